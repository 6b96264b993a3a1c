/* Private: the graph's nodes, schedule and memory plan. */
#ifndef KCV_GRAPH_IMPL_H
#define KCV_GRAPH_IMPL_H

#include <kcv/graph.h>

#include "ops/op-impl.h"
#include "pool-impl.h"

typedef enum node_kind { NODE_INPUT, NODE_PARAM, NODE_OP } node_kind;

typedef struct gnode {
	node_kind kind;
	kcv_op op;
	int n_in;
	kcv_node in[KCV_OP_MAX_IN];
	unsigned char params[KCV_OP_PARAMS_SIZE];
	kcv_shape shape;
	char *name;
	int trainable;     /* parameters */
	int requires_grad; /* a trainable parameter influences it */
	int needs_grad;    /* requires_grad and the loss depends on it */
	int is_output;
	int storage;       /* value storage (shared by views) */
	int grad_storage;  /* -1: none */
	float *data;
	float *grad;
} gnode;

/* A buffer to place: a value or a gradient, shared by views. */
typedef struct gstorage {
	size_t bytes;
	int first, last;   /* live steps, inclusive */
	int persistent;    /* parameters, inputs, parameter gradients */
	int written;       /* grads: set while scheduling the backward */
	size_t offset;     /* in the arena */
	float *ptr;
} gstorage;

/* One backward step: the op node whose backward runs, and for each input
 * whether its gradient is written (0), added (1) or not wanted (-1). */
typedef struct bstep {
	kcv_node node;
	int mode[KCV_OP_MAX_IN];
} bstep;

struct kcv_graph {
	gnode *nodes;
	size_t n, cap;
	kcv_error err;
	int threads;
	kcv_pool *pool;
	int compiled;
	kcv_node loss;         /* -1 without backward */
	bstep *bsteps;
	size_t n_bsteps;
	gstorage *stores;
	size_t n_stores;
	void *arena;
	size_t arena_bytes, persistent_bytes;
	void *persistent;      /* one block for all persistent storages */
	void *scratch;
	size_t scratch_bytes;
	int profiling;
	double prof_ms[KCV_OP_COUNT][2]; /* forward, backward */
	uint64_t prof_calls[KCV_OP_COUNT][2];
	double *prof_node;     /* [node][forward, backward] ms; NULL unless profiling */
	int ran_forward;
	int training;          /* kcv_graph_set_training */
	kcv_bf16 *bf16;        /* the backend of KCV_PRECISION_BF16, or NULL */
};

/* Record a build error (first wins) and return -1. */
kcv_node kcv_graph_fail(kcv_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add an op node: checks inputs, infers the shape. */
kcv_node kcv_graph_add_op(kcv_graph *g, kcv_op op, int n_in, const kcv_node *in,
                          const void *params, size_t params_size);
/* Plan storages and allocate (plan.c). */
kcv_status kcv_graph_plan(kcv_graph *g, kcv_error *err);

#endif
