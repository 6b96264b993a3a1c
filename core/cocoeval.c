/* kcv_cocoeval: storage of images, categories and boxes, the run (group by
 * category and image, evaluate and accumulate each category on the pool)
 * and pycocotools' summaries. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cocoeval-impl.h"
#include "pool-impl.h"

static const char *const stat_names[KCV_COCO_STAT_COUNT] = {
	"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

const char *kcv_coco_stat_name(kcv_coco_stat stat)
{
	return (int)stat >= 0 && stat < KCV_COCO_STAT_COUNT ? stat_names[stat] : NULL;
}

kcv_cocoeval *kcv_cocoeval_new(const kcv_cocoeval_params *params, kcv_error *err)
{
	kcv_cocoeval_params p = params ? *params : (kcv_cocoeval_params){0};
	if (p.num_max_dets == 0) {
		p.num_max_dets = 3;
		p.max_dets[0] = 1;
		p.max_dets[1] = 10;
		p.max_dets[2] = 100;
	}
	if (p.num_max_dets > KCV_COCOEVAL_MAX_DETS) {
		KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL, "at most %d max_dets values, got %zu",
		          KCV_COCOEVAL_MAX_DETS, p.num_max_dets);
		return NULL;
	}
	for (size_t i = 0; i < p.num_max_dets; i++) {
		if (p.max_dets[i] < 1 || (i && p.max_dets[i] <= p.max_dets[i - 1])) {
			KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL,
			          "max_dets must be >= 1 and strictly ascending");
			return NULL;
		}
	}
	if (p.threads < 1)
		p.threads = 1;
	kcv_cocoeval *ev = calloc(1, sizeof(*ev));
	if (!ev) {
		KCV_ERROR(err, KCV_ERR_NOMEM, "cocoeval", NULL, "out of memory");
		return NULL;
	}
	ev->params = p;
	ev->max_det = p.max_dets[p.num_max_dets - 1];
	return ev;
}

static void free_results(kcv_cocoeval *ev)
{
	free(ev->cats);
	free(ev->precision);
	free(ev->recall);
	free(ev->cat_ap);
	ev->cats = NULL;
	ev->precision = ev->recall = ev->cat_ap = NULL;
	ev->K = 0;
	ev->have_results = 0;
}

void kcv_cocoeval_free(kcv_cocoeval *ev)
{
	if (!ev)
		return;
	free_results(ev);
	free(ev->image_ids);
	free(ev->category_ids);
	free(ev->gts);
	free(ev->dts);
	free(ev);
}

void kcv_cocoeval_reset(kcv_cocoeval *ev)
{
	free_results(ev);
	ev->num_images = ev->num_categories = ev->num_gts = ev->num_dts = 0;
}

/* Room for one more item of `size` bytes after n: the array (maybe moved),
 * or NULL with *st and err set. */
static void *grow(void *arr, size_t n, size_t *cap, size_t size, kcv_status *st, kcv_error *err)
{
	if (n >= UINT32_MAX - 1) {
		*st = KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL, "too many items (over 2^32)");
		return NULL;
	}
	void *p = kcv_coco_reserve(arr, cap, n + 1, size);
	if (!p)
		*st = KCV_ERROR(err, KCV_ERR_NOMEM, "cocoeval", NULL, "out of memory");
	return p;
}

kcv_status kcv_cocoeval_add_image(kcv_cocoeval *ev, int64_t image_id, kcv_error *err)
{
	kcv_status st = KCV_OK;
	int64_t *p = grow(ev->image_ids, ev->num_images, &ev->cap_images, sizeof(*p), &st, err);
	if (p) {
		ev->image_ids = p;
		p[ev->num_images++] = image_id;
	}
	return st;
}

kcv_status kcv_cocoeval_add_category(kcv_cocoeval *ev, int64_t category_id, kcv_error *err)
{
	kcv_status st = KCV_OK;
	int64_t *p =
		grow(ev->category_ids, ev->num_categories, &ev->cap_categories, sizeof(*p), &st, err);
	if (p) {
		ev->category_ids = p;
		p[ev->num_categories++] = category_id;
	}
	return st;
}

static int finite4(const double b[4])
{
	return isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
}

kcv_status kcv_cocoeval_add_gt(kcv_cocoeval *ev, const kcv_coco_gt *gt, kcv_error *err)
{
	if (!finite4(gt->bbox) || !isfinite(gt->area))
		return KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL,
		                 "ground truth %lld: non-finite bbox or area", (long long)gt->id);
	kcv_status st = KCV_OK;
	kcv_coco_gt *p = grow(ev->gts, ev->num_gts, &ev->cap_gts, sizeof(*p), &st, err);
	if (p) {
		ev->gts = p;
		p[ev->num_gts++] = *gt;
	}
	return st;
}

kcv_status kcv_cocoeval_add_dt(kcv_cocoeval *ev, const kcv_coco_dt *dt, kcv_error *err)
{
	if (!finite4(dt->bbox) || !isfinite(dt->score))
		return KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL,
		                 "detection %zu: non-finite bbox or score", ev->num_dts);
	kcv_status st = KCV_OK;
	kcv_coco_dt *p = grow(ev->dts, ev->num_dts, &ev->cap_dts, sizeof(*p), &st, err);
	if (p) {
		ev->dts = p;
		p[ev->num_dts++] = *dt;
	}
	return st;
}

size_t kcv_cocoeval_num_gt(const kcv_cocoeval *ev)
{
	return ev->num_gts;
}

size_t kcv_cocoeval_num_dt(const kcv_cocoeval *ev)
{
	return ev->num_dts;
}

/* ---- run ------------------------------------------------------------------ */

static int id_cmp(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a > b) - (a < b);
}

/* Sort and deduplicate ids into a new array (*out, caller frees). */
static size_t sorted_unique(const int64_t *ids, size_t n, int64_t **out)
{
	*out = malloc((n ? n : 1) * sizeof(int64_t));
	if (!*out)
		return 0;
	if (n)
		memcpy(*out, ids, n * sizeof(int64_t));
	qsort(*out, n, sizeof(int64_t), id_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || (*out)[u - 1] != (*out)[i])
			(*out)[u++] = (*out)[i];
	return u;
}

/* Position of id in the ascending array, or UINT32_MAX. */
static uint32_t find_id(const int64_t *ids, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ids[lo] == id ? (uint32_t)lo : UINT32_MAX;
}

/* Boxes of one kind resolved to (category, image) indices and grouped: order
 * lists them by category, then image, then the order they were added; the
 * boxes of category k are order[off[k] .. off[k+1]). */
typedef struct grouping {
	uint32_t *img;   /* per box: image index (UINT32_MAX: left out) */
	uint32_t *cat;   /* per box: category index */
	uint32_t *order; /* n kept boxes */
	size_t *off;     /* K + 1 */
	size_t n;
} grouping;

static void grouping_release(grouping *g)
{
	free(g->img);
	free(g->cat);
	free(g->order);
	free(g->off);
}

/* Two stable counting sorts: by image, then by category. */
static int group(grouping *g, size_t total, size_t nimg, size_t K)
{
	size_t nb = (nimg > K ? nimg : K) + 1;
	uint32_t *tmp = malloc((total ? total : 1) * sizeof(uint32_t));
	size_t *cnt = calloc(nb, sizeof(size_t));
	g->order = malloc((total ? total : 1) * sizeof(uint32_t));
	g->off = calloc(K + 1, sizeof(size_t));
	if (!tmp || !cnt || !g->order || !g->off) {
		free(tmp);
		free(cnt);
		return -1;
	}
	g->n = 0;
	for (size_t i = 0; i < total; i++) {
		if (g->img[i] != UINT32_MAX) {
			cnt[g->img[i] + 1]++;
			g->n++;
		}
	}
	for (size_t i = 1; i <= nimg; i++)
		cnt[i] += cnt[i - 1];
	for (size_t i = 0; i < total; i++)
		if (g->img[i] != UINT32_MAX)
			tmp[cnt[g->img[i]]++] = (uint32_t)i;
	for (size_t j = 0; j < g->n; j++)
		g->off[g->cat[tmp[j]] + 1]++;
	for (size_t k = 1; k <= K; k++)
		g->off[k] += g->off[k - 1];
	memcpy(cnt, g->off, K * sizeof(size_t));
	for (size_t j = 0; j < g->n; j++)
		g->order[cnt[g->cat[tmp[j]]]++] = tmp[j];
	free(tmp);
	free(cnt);
	return 0;
}

typedef struct run_ctx {
	kcv_cocoeval *ev;
	const grouping *gt, *dt;
	kcv_coco_det_result *res; /* slots of category k start at dt->off[k] */
	atomic_size_t next;   /* the next category to take */
	int *failed;          /* per worker */
} run_ctx;

static void run_category(run_ctx *c, size_t k, kcv_coco_scratch *s)
{
	const grouping *G = c->gt, *D = c->dt;
	size_t gi = G->off[k], ge = G->off[k + 1], di = D->off[k], de = D->off[k + 1];
	kcv_coco_det_result *out = c->res + D->off[k];
	size_t n = 0, npig[KCV_COCO_A] = {0};
	while (gi < ge || di < de) {
		uint32_t ig = gi < ge ? G->img[G->order[gi]] : UINT32_MAX;
		uint32_t id = di < de ? D->img[D->order[di]] : UINT32_MAX;
		uint32_t img = ig < id ? ig : id;
		kcv_coco_pair pair = {.image = img, .gt = G->order + gi, .dt = D->order + di};
		while (gi < ge && G->img[G->order[gi]] == img)
			gi++;
		while (di < de && D->img[D->order[di]] == img)
			di++;
		pair.num_gt = (size_t)(G->order + gi - pair.gt);
		pair.num_dt = (size_t)(D->order + di - pair.dt);
		n += kcv_coco_evaluate_pair(c->ev, &pair, s, out + n, npig);
		if (s->failed)
			return;
	}
	kcv_coco_accumulate_category(c->ev, k, out, n, npig, s);
}

/* Worker w: takes categories one at a time until none is left. Each
 * category writes only its own results, so the thread count changes nothing. */
static void run_worker(void *ctx, size_t w)
{
	run_ctx *c = ctx;
	kcv_coco_scratch s = {0};
	for (;;) {
		size_t k = atomic_fetch_add(&c->next, 1);
		if (k >= c->ev->K || s.failed)
			break;
		run_category(c, k, &s);
	}
	c->failed[w] = s.failed;
	kcv_coco_scratch_release(&s);
}

/* Mean of the entries > -1 of precision (ap) or recall at area a, max_dets
 * index m, threshold t (KCV_COCO_T: all), in numpy's C order (t, r, k). */
static double summary_mean(const kcv_cocoeval *ev, int ap, int a, int m, int t, double *buf)
{
	size_t n = 0;
	int t0 = t == KCV_COCO_T ? 0 : t, t1 = t == KCV_COCO_T ? KCV_COCO_T : t + 1;
	for (int ti = t0; ti < t1; ti++) {
		for (int r = 0; r < (ap ? KCV_COCO_R : 1); r++) {
			for (size_t k = 0; k < ev->K; k++) {
				double v = ap ? ev->precision[coco_prec_at(ev, k, a, m, ti) + (size_t)r]
				              : ev->recall[coco_rec_at(ev, k, a, m, ti)];
				if (v > -1)
					buf[n++] = v;
			}
		}
	}
	return n ? kcv_coco_numpy_sum(buf, n) / (double)n : -1.0;
}

/* Index of max_dets value v in the params, or -1. */
static int max_det_index(const kcv_cocoeval *ev, int v)
{
	for (int m = 0; m < (int)ev->params.num_max_dets; m++)
		if (ev->params.max_dets[m] == v)
			return m;
	return -1;
}

/* pycocotools' _summarizeDets with this evaluator's max_dets. */
static void compute_stats(kcv_cocoeval *ev)
{
	int M = (int)ev->params.num_max_dets;
	int m100 = max_det_index(ev, 100);
	double *st = ev->stats;
	for (int i = 0; i < KCV_COCO_STAT_COUNT; i++)
		st[i] = -1.0;
	if (m100 >= 0)
		st[KCV_COCO_AP] = ev->means[1][KCV_COCO_AREA_ALL][m100][KCV_COCO_T];
	if (M < 3)
		return; /* pycocotools indexes maxDets[0..2] */
	st[KCV_COCO_AP50] = ev->means[1][KCV_COCO_AREA_ALL][2][0];
	st[KCV_COCO_AP75] = ev->means[1][KCV_COCO_AREA_ALL][2][5];
	st[KCV_COCO_APS] = ev->means[1][KCV_COCO_AREA_SMALL][2][KCV_COCO_T];
	st[KCV_COCO_APM] = ev->means[1][KCV_COCO_AREA_MEDIUM][2][KCV_COCO_T];
	st[KCV_COCO_APL] = ev->means[1][KCV_COCO_AREA_LARGE][2][KCV_COCO_T];
	st[KCV_COCO_AR1] = ev->means[0][KCV_COCO_AREA_ALL][0][KCV_COCO_T];
	st[KCV_COCO_AR10] = ev->means[0][KCV_COCO_AREA_ALL][1][KCV_COCO_T];
	st[KCV_COCO_AR100] = ev->means[0][KCV_COCO_AREA_ALL][2][KCV_COCO_T];
	st[KCV_COCO_ARS] = ev->means[0][KCV_COCO_AREA_SMALL][2][KCV_COCO_T];
	st[KCV_COCO_ARM] = ev->means[0][KCV_COCO_AREA_MEDIUM][2][KCV_COCO_T];
	st[KCV_COCO_ARL] = ev->means[0][KCV_COCO_AREA_LARGE][2][KCV_COCO_T];
}

/* All means of summarize and the per-category AP. */
static kcv_status summarize_all(kcv_cocoeval *ev, kcv_error *err)
{
	size_t K = ev->K;
	double *buf = malloc((K ? K : 1) * KCV_COCO_T * KCV_COCO_R * sizeof(double));
	ev->cat_ap = malloc((K ? K : 1) * (KCV_COCO_T + 1) * sizeof(double));
	if (!buf || !ev->cat_ap) {
		free(buf);
		return KCV_ERROR(err, KCV_ERR_NOMEM, "cocoeval", NULL, "out of memory");
	}
	for (int ap = 0; ap < 2; ap++)
		for (int a = 0; a < KCV_COCO_A; a++)
			for (int m = 0; m < KCV_COCO_M; m++)
				for (int t = 0; t <= KCV_COCO_T; t++)
					ev->means[ap][a][m][t] = m < (int)ev->params.num_max_dets
					                             ? summary_mean(ev, ap, a, m, t, buf)
					                             : -1.0;
	int mlast = (int)ev->params.num_max_dets - 1;
	for (size_t k = 0; k < K; k++) {
		for (int t = 0; t <= KCV_COCO_T; t++) {
			int t0 = t == KCV_COCO_T ? 0 : t, t1 = t == KCV_COCO_T ? KCV_COCO_T : t + 1;
			size_t n = 0;
			for (int ti = t0; ti < t1; ti++) {
				const double *q =
					ev->precision + coco_prec_at(ev, k, KCV_COCO_AREA_ALL, mlast, ti);
				for (int r = 0; r < KCV_COCO_R; r++)
					if (q[r] > -1)
						buf[n++] = q[r];
			}
			ev->cat_ap[k * (KCV_COCO_T + 1) + (size_t)t] =
				n ? kcv_coco_numpy_sum(buf, n) / (double)n : -1.0;
		}
	}
	free(buf);
	compute_stats(ev);
	return KCV_OK;
}

kcv_status kcv_cocoeval_run(kcv_cocoeval *ev, kcv_error *err)
{
	kcv_status st = KCV_OK;
	int64_t *imgs = NULL;
	grouping gt = {0}, dt = {0};
	kcv_coco_det_result *res = NULL;
	kcv_pool *pool = NULL;
	int *failed = NULL;

	free_results(ev);
	size_t nimg = sorted_unique(ev->image_ids, ev->num_images, &imgs);
	ev->K = sorted_unique(ev->category_ids, ev->num_categories, &ev->cats);
	size_t K = ev->K, T = KCV_COCO_T, R = KCV_COCO_R;
	size_t M = ev->params.num_max_dets;
	size_t nprec = (K ? K : 1) * KCV_COCO_A * M * T * R;
	ev->precision = malloc(nprec * sizeof(double));
	ev->recall = malloc((K ? K : 1) * KCV_COCO_A * M * T * sizeof(double));
	gt.img = malloc((ev->num_gts ? ev->num_gts : 1) * sizeof(uint32_t));
	gt.cat = malloc((ev->num_gts ? ev->num_gts : 1) * sizeof(uint32_t));
	dt.img = malloc((ev->num_dts ? ev->num_dts : 1) * sizeof(uint32_t));
	dt.cat = malloc((ev->num_dts ? ev->num_dts : 1) * sizeof(uint32_t));
	if (!imgs || !ev->cats || !ev->precision || !ev->recall || !gt.img || !gt.cat || !dt.img ||
	    !dt.cat)
		goto nomem;
	for (size_t i = 0; i < nprec; i++)
		ev->precision[i] = -1.0;
	for (size_t i = 0; i < K * KCV_COCO_A * M * T; i++)
		ev->recall[i] = -1.0;

	/* ground truth of unknown images or categories is left out (pycocotools
	 * selects annotations by the evaluated image and category ids) */
	for (size_t i = 0; i < ev->num_gts; i++) {
		gt.img[i] = find_id(imgs, nimg, ev->gts[i].image_id);
		gt.cat[i] = find_id(ev->cats, K, ev->gts[i].category_id);
		if (gt.cat[i] == UINT32_MAX)
			gt.img[i] = UINT32_MAX;
	}
	for (size_t i = 0; i < ev->num_dts; i++) {
		dt.img[i] = find_id(imgs, nimg, ev->dts[i].image_id);
		if (dt.img[i] == UINT32_MAX) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, "cocoeval", NULL,
			               "detection %zu: image_id %lld is not an image of the ground truth", i,
			               (long long)ev->dts[i].image_id);
			goto fail;
		}
		dt.cat[i] = find_id(ev->cats, K, ev->dts[i].category_id);
		if (dt.cat[i] == UINT32_MAX)
			dt.img[i] = UINT32_MAX; /* another category: not evaluated */
	}
	if (group(&gt, ev->num_gts, nimg, K) || group(&dt, ev->num_dts, nimg, K))
		goto nomem;
	res = calloc(dt.n ? dt.n : 1, sizeof(*res));
	failed = calloc((size_t)ev->params.threads, sizeof(int));
	if (!res || !failed)
		goto nomem;
	int threads = ev->params.threads;
	if ((size_t)threads > K)
		threads = K ? (int)K : 1;
	if (threads > 1 && !(pool = kcv_pool_new(threads)))
		goto nomem;
	run_ctx ctx = {.ev = ev, .gt = &gt, .dt = &dt, .res = res, .failed = failed};
	atomic_init(&ctx.next, 0);
	kcv_pool_run(pool, (size_t)threads, run_worker, &ctx);
	for (int w = 0; w < threads; w++)
		if (failed[w])
			goto nomem;
	if ((st = summarize_all(ev, err)) != KCV_OK)
		goto fail;
	ev->have_results = 1;
	goto done;

nomem:
	st = KCV_ERROR(err, KCV_ERR_NOMEM, "cocoeval", NULL, "out of memory");
fail:
	free_results(ev);
done:
	kcv_pool_free(pool);
	free(failed);
	free(res);
	grouping_release(&gt);
	grouping_release(&dt);
	free(imgs);
	return st;
}

/* ---- results ------------------------------------------------------------ */

double kcv_cocoeval_stat(const kcv_cocoeval *ev, kcv_coco_stat stat)
{
	if (!ev->have_results || (int)stat < 0 || stat >= KCV_COCO_STAT_COUNT)
		return -1.0;
	return ev->stats[stat];
}

/* Threshold index of iou (KCV_COCO_T for iou < 0: all), or -1. */
static int iou_index(double iou)
{
	if (iou < 0)
		return KCV_COCO_T;
	for (int t = 0; t < KCV_COCO_T; t++)
		if (fabs(kcv_coco_iou_threshold(t) - iou) < 1e-9)
			return t;
	return -1;
}

double kcv_cocoeval_summarize(const kcv_cocoeval *ev, int ap, double iou, kcv_coco_area area,
                              int max_dets)
{
	int t = iou_index(iou), m = max_det_index(ev, max_dets);
	if (!ev->have_results || t < 0 || m < 0 || (int)area < 0 || area >= KCV_COCO_AREA_COUNT)
		return -1.0;
	return ev->means[ap ? 1 : 0][area][m][t];
}

size_t kcv_cocoeval_num_categories(const kcv_cocoeval *ev)
{
	return ev->have_results ? ev->K : 0;
}

int64_t kcv_cocoeval_category_id(const kcv_cocoeval *ev, size_t k)
{
	return ev->have_results && k < ev->K ? ev->cats[k] : -1;
}

double kcv_cocoeval_category_ap(const kcv_cocoeval *ev, size_t k, double iou)
{
	int t = iou_index(iou);
	if (!ev->have_results || k >= ev->K || t < 0)
		return -1.0;
	return ev->cat_ap[k * (KCV_COCO_T + 1) + (size_t)t];
}
