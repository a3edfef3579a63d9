/* The golden runner's component interface: one function per cases.json "component".
 * To add a component, write tests/golden/golden_<component>.c with a golden_<component>()
 * function, declare it here, and put it in the table in golden_main.c. */
#ifndef TINV_GOLDEN_H
#define TINV_GOLDEN_H

#include <jansson.h>
#include <stddef.h>

typedef enum golden_result { GOLDEN_PASS, GOLDEN_FAIL, GOLDEN_SKIP } golden_result;

/* Run one case. `set_dir` is the fixture-set directory, `c` the case object from cases.json.
 * Writes a one-line summary into detail (e.g. "max_abs 1e-6 max_rel 2e-7" or "701/701 lines
 * exact"); may print details of failures to stderr. */
typedef golden_result (*golden_fn)(const char *set_dir, json_t *c, char *detail, size_t detail_cap);

/* max|x − ref| (infinite when x holds a NaN) and max|ref| over n values: the measure of every
 * "max|x − ref| ≤ rtol · max|ref|" rule. */
void golden_max_error(const float *x, const float *ref, size_t n, double *max_abs, double *max_ref);

/* Load a JSON file that may contain Python's NaN/Infinity (cases.json does). NULL + message on error. */
json_t *golden_load_json(const char *path, char *err, size_t err_cap);

golden_result golden_tokenizer(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_text_encoder(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_unet(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_vae(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_scheduler(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_sampler(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_pipeline(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_textual_inversion(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
golden_result golden_single_file(const char *set_dir, json_t *c, char *detail, size_t detail_cap);
/* The model of a set, loaded once (golden_models.c); NULL with a reason in detail on failure. */
struct tinv_model;
struct tinv_model *golden_model(const char *set_dir, char *detail, size_t detail_cap);
void golden_model_release(void);

#endif
