import numpy as np, sys
from scipy.stats import rankdata
GRID = 10.0 ** (-3 + 0.5*np.arange(17))
DIM, SIG, AMP = 64, 8, 3.0

def fit_predict_all(Xtr, ytr, Xte):
    mu = Xtr.mean(0); sd = Xtr.std(0); sd[sd == 0] = 1
    Z = (Xtr-mu)/sd; Zt = (Xte-mu)/sd
    ym = ytr.mean(); yc = ytr-ym
    K = Z@Z.T; s, U = np.linalg.eigh(K)
    Kt = Zt@Z.T
    Uy = U.T@yc
    # preds for every lambda: (n_te, G)
    coef = Uy[:, None] / (s[:, None] + GRID[None, :])
    return ym + (Kt@U)@coef

def choose_lambda(X, y, rng):
    n = len(y); k = min(5, n)
    f = rng.permutation(n) % k
    err = np.zeros(len(GRID))
    for i in range(k):
        te = f == i; tr = ~te
        p = fit_predict_all(X[tr], y[tr], X[te])
        err += ((p - y[te][:, None])**2).sum(0)
    return np.argmin(err)

def cv_preds(X, y, folds, rng):
    n = len(y); p = np.zeros(n); k = folds.max()+1
    for i in range(k):
        te = folds == i; tr = ~te
        g = choose_lambda(X[tr], y[tr], rng)
        pr = fit_predict_all(X[tr], y[tr], X[te])[:, g]
        p[te] = pr - pr.mean()*0  # raw
    return p

def centred(p, folds):
    q = p.copy()
    for i in range(folds.max()+1):
        m = folds == i; q[m] -= p[m].mean()
    return q

def spearman(a, b):
    return np.corrcoef(rankdata(a), rankdata(b))[0, 1]

def make(kind, n, rng):
    t = rng.standard_normal(n); y = t + rng.standard_normal(n)
    sees = lambda: np.concatenate([AMP*t[:, None]*np.ones((1, SIG)), np.zeros((n, DIM-SIG))], 1) + rng.standard_normal((n, DIM))
    blind = lambda: rng.standard_normal((n, DIM))
    if kind == 'planted': return sees(), blind(), y
    if kind == 'null': return blind(), blind(), y
    return sees(), sees(), y

def trial(kind, n, seed, R=10):
    rng = np.random.default_rng(seed)
    A, B, y = make(kind, n, rng)
    out = []
    for r in range(R):
        folds = rng.permutation(n) % 5
        pa = cv_preds(A, y, folds, rng); pb = cv_preds(B, y, folds, rng)
        ca, cb = centred(pa, folds), centred(pb, folds)
        out.append(dict(
            sp=spearman(ca, y)-spearman(cb, y),
            pe=np.corrcoef(ca, y)[0,1]-np.corrcoef(cb, y)[0,1],
            mse=np.mean((pb-y)**2)-np.mean((pa-y)**2),
            mae=np.mean(np.abs(pb-y))-np.mean(np.abs(pa-y)),
            spa=spearman(ca, y), spb=spearman(cb, y),
        ))
    return {k: np.mean([o[k] for o in out]) for k in out[0]}

if __name__ == '__main__':
    n = int(sys.argv[1]); T = int(sys.argv[2])
    res = {}
    for kind in ['null', 'equal', 'planted']:
        rows = [trial(kind, n, 1000*n+s) for s in range(T)]
        res[kind] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    for m in ['sp', 'pe', 'mse', 'mae']:
        sn = res['null'][m].std(); se = res['equal'][m].std(); pp = res['planted'][m]
        print(f"n={n} {m:4} null sd {sn:.3f} equal sd {se:.3f} planted mean {pp.mean():.3f} sd {pp.std():.3f}  "
              f"snr(null sd) {pp.mean()/sn:.2f}  oracle power {np.mean(pp > 1.96*max(sn,se))*100:.0f}%")
    print("mean spearman a/b planted", res['planted']['spa'].mean(), res['planted']['spb'].mean())
