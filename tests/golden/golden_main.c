/* build/golden <set dir>: walk <set>/golden/cases.json, run each case by its component and
 * print "PASS|FAIL|SKIP <name> <detail>" per case, then "N passed, N failed, N skipped". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

static const struct component {
    const char *name;
    golden_fn run; /* NULL: not implemented yet -> SKIP */
} components[] = {
    {"tokenizer", golden_tokenizer},
    {"text_encoder", golden_text_encoder},
    {"unet", golden_unet},
    {"vae", golden_vae},
    {"scheduler", golden_scheduler},
    {"sampler", golden_sampler},
    {"pipeline", golden_pipeline},
    {"textual_inversion", golden_textual_inversion},
    {"single_file", golden_single_file},
};

json_t *golden_load_json(const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *in = malloc((size_t)size + 1);
    /* worst case growth: "NaN" (3) -> "null" (4) */
    char *out = malloc((size_t)size * 2 + 64);
    if (in == NULL || out == NULL || fread(in, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, err_cap, "cannot read %s", path);
        free(in);
        free(out);
        fclose(f);
        return NULL;
    }
    fclose(f);
    in[size] = '\0';
    /* Python's json writes NaN and +-Infinity, which strict JSON (and jansson) rejects: replace
     * them, outside strings, by null and +-1.7976931348623157e308. */
    size_t o = 0;
    int in_str = 0;
    for (long i = 0; i < size; i++) {
        char ch = in[i];
        if (in_str) {
            out[o++] = ch;
            if (ch == '\\' && i + 1 < size)
                out[o++] = in[++i];
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
        } else if (strncmp(in + i, "NaN", 3) == 0) {
            memcpy(out + o, "null", 4);
            o += 4;
            i += 2;
            continue;
        } else if (strncmp(in + i, "Infinity", 8) == 0) {
            const char *big = "1.7976931348623157e308";
            memcpy(out + o, big, strlen(big));
            o += strlen(big);
            i += 7;
            continue;
        }
        out[o++] = ch;
    }
    free(in);
    json_error_t jerr;
    json_t *root = json_loadb(out, o, 0, &jerr);
    free(out);
    if (root == NULL)
        snprintf(err, err_cap, "%s:%d: %s", path, jerr.line, jerr.text);
    return root;
}

void golden_max_error(const float *x, const float *ref, size_t n, double *max_abs, double *max_ref)
{
    *max_abs = 0;
    *max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        if (!(d <= *max_abs)) /* also catches NaN */
            *max_abs = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > *max_ref)
            *max_ref = fabs(ref[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: golden <fixture set dir>   (reads <dir>/golden/cases.json)\n");
        return 2;
    }
    const char *set = argv[1];
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/cases.json", set);
    char err[1024];
    json_t *root = golden_load_json(path, err, sizeof err);
    if (root == NULL) {
        fprintf(stderr, "golden: %s\n", err);
        printf("0 passed, 1 failed, 0 skipped\n");
        return 1;
    }
    json_t *cases = json_object_get(root, "cases");
    int passed = 0, failed = 0, skipped = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *comp = json_string_value(json_object_get(c, "component"));
        if (name == NULL)
            name = "?";
        char detail[512] = "";
        golden_result r = GOLDEN_SKIP;
        const struct component *found = NULL;
        for (size_t k = 0; comp != NULL && k < sizeof components / sizeof components[0]; k++)
            if (strcmp(components[k].name, comp) == 0)
                found = &components[k];
        if (found == NULL) {
            r = GOLDEN_FAIL;
            snprintf(detail, sizeof detail, "unknown component '%s'", comp ? comp : "(none)");
        } else if (found->run == NULL) {
            snprintf(detail, sizeof detail, "component %s not implemented yet", comp);
        } else {
            r = found->run(set, c, detail, sizeof detail);
        }
        const char *tag = r == GOLDEN_PASS ? "PASS" : r == GOLDEN_FAIL ? "FAIL" : "SKIP";
        printf("%s %s %s\n", tag, name, detail);
        fflush(stdout);
        passed += r == GOLDEN_PASS;
        failed += r == GOLDEN_FAIL;
        skipped += r == GOLDEN_SKIP;
    }
    json_decref(root);
    golden_model_release();
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
