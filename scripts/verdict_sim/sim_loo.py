import numpy as np, sys
from scipy.stats import rankdata
from sim import make, spearman, centred, GRID, fit_predict_all

def loo_all(X, y):
    # closed-form LOO residuals of ridge with intercept for every lambda (features standardised once)
    mu = X.mean(0); sd = X.std(0); sd[sd==0] = 1
    Z = (X-mu)/sd; n = len(y)
    Zc = Z - Z.mean(0); yc = y - y.mean()
    K = Zc@Zc.T; s, U = np.linalg.eigh(K)
    out = []
    for lam in GRID:
        H = (U*(s/(s+lam)))@U.T + 1.0/n
        yhat = H@yc + y.mean()
        out.append(y - (y-yhat)/(1-np.diag(H)))   # LOO predictions
    return np.array(out).T  # n x G

def cv_preds_gcv(X, y, folds):
    n = len(y); p = np.zeros(n)
    for i in range(folds.max()+1):
        te = folds==i; tr = ~te
        L = loo_all(X[tr], y[tr])
        g = np.argmin(((L - y[tr][:,None])**2).sum(0))
        p[te] = fit_predict_all(X[tr], y[tr], X[te])[:, g]
    return p

def trial(kind, n, seed, K, R, mode):
    rng = np.random.default_rng(seed)
    A, B, y = make(kind, n, rng)
    out = []
    if mode == 'loo':
        # nested: outer LOO closed form with lambda chosen by LOO on all n (slightly optimistic) 
        res = {}
        for nm, X in (('a', A), ('b', B)):
            L = loo_all(X, y); g = np.argmin(((L-y[:,None])**2).sum(0)); res[nm] = L[:, g]
        pa, pb = res['a'], res['b']
        return dict(sp=spearman(pa,y)-spearman(pb,y), pe=np.corrcoef(pa,y)[0,1]-np.corrcoef(pb,y)[0,1],
                    mse=np.mean((pb-y)**2)-np.mean((pa-y)**2), mae=np.mean(abs(pb-y))-np.mean(abs(pa-y)),
                    spa=spearman(pa,y), spb=spearman(pb,y))
    for r in range(R):
        folds = rng.permutation(n) % K
        pa = cv_preds_gcv(A, y, folds); pb = cv_preds_gcv(B, y, folds)
        ca, cb = centred(pa, folds), centred(pb, folds)
        out.append(dict(sp=spearman(ca,y)-spearman(cb,y), pe=np.corrcoef(ca,y)[0,1]-np.corrcoef(cb,y)[0,1],
                        mse=np.mean((pb-y)**2)-np.mean((pa-y)**2), mae=np.mean(abs(pb-y))-np.mean(abs(pa-y)),
                        spa=spearman(ca,y), spb=spearman(cb,y)))
    return {k: np.mean([o[k] for o in out]) for k in out[0]}

if __name__ == '__main__':
    n, T, K, R, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    res = {}
    for kind in ['null','equal','planted']:
        rows = [trial(kind, n, 1000*n+s, K, R, mode) for s in range(T)]
        res[kind] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    for m in ['sp','pe','mse','mae']:
        sn = res['null'][m].std(); se = res['equal'][m].std(); pp = res['planted'][m]
        print(f"{mode} K={K} n={n} {m:4} null sd {sn:.3f} equal sd {se:.3f} planted {pp.mean():.3f}±{pp.std():.3f} snr_p {pp.mean()/pp.std():.2f} oracle power {np.mean(pp>1.96*max(sn,se))*100:.0f}%")
    print("spearman a/b", res['planted']['spa'].mean().round(3), res['planted']['spb'].mean().round(3))
