/* The kcv program: shared helpers of the subcommands. */
#ifndef KCV_CLI_H
#define KCV_CLI_H

#include <stdio.h>

#include <kcv/kcv.h>

/* Exit statuses (a contract). */
#define CLI_OK 0
#define CLI_USER_ERROR 1
#define CLI_INTERNAL_ERROR 2

/* Arguments shared by the subcommands that read a pipeline. */
typedef struct cli_pipeline_args {
	const char *file;
	const char **sets;
	size_t num_sets;
} cli_pipeline_args;

/* Print an error ("kcv: file: path: text") to stderr and return the exit
 * status it deserves (1 for user errors, 2 for internal ones). */
int cli_fail(const kcv_error *err);
/* Print "kcv: <message>" and a hint to run --help; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The registry for this run (built-in plugins + KCV_PLUGIN_PATH). */
kcv_registry *cli_registry(kcv_error *err);

/* Parse "--set k=v" / "--set=k=v" at argv[*i]; returns 1 if consumed. */
int cli_take_set(int argc, char **argv, int *i, cli_pipeline_args *pa, int *bad);

/* Seconds from a monotonic clock. */
double cli_now(void);

/* Strict number parsing for flags; -1 on a bad value. */
int cli_parse_long(const char *s, long lo, long hi, long *out);

/* What kcv cocoeval keeps of a COCO annotation file (coco_json.c). */
typedef struct cli_coco_info {
	int64_t *image_ids;     /* ascending */
	size_t num_images;
	int64_t *category_ids;  /* ascending, unique */
	char **category_names;  /* parallel to category_ids; NULL if none */
	size_t num_categories;
} cli_coco_info;

/* Read a COCO annotation file into ev and info; -1 with err set. */
int cli_coco_load_gt(kcv_cocoeval *ev, const char *file, cli_coco_info *info, kcv_error *err);
/* Read a COCO results file into ev; detections of categories that info does
 * not list are counted in *skipped and left out. -1 with err set. */
int cli_coco_load_dt(kcv_cocoeval *ev, const char *file, const cli_coco_info *info,
                     size_t *skipped, kcv_error *err);
void cli_coco_info_release(cli_coco_info *info);

int cmd_plugins(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_cocoeval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
