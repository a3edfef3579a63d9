/* Golden component "textual_inversion": one optimisation step of diffusers' textual-inversion
 * script, through the library's own pieces — tinv_model_add_token (ids and initial rows),
 * the tokenizer (the case's text; for several vectors also the bare token, which must expand to
 * the same ids), ti_diffusion_loss (noisy latents, context, prediction, target, loss), the
 * gradient of the learned vectors, tinv_optimizer_step (rows after the step) and
 * tinv_model_save_embedding (the learned_embeds file). The set's cached model gains tokens, so
 * it is released afterwards. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "concepts.h"
#include "golden.h"
#include "model.h"
#include "safetensors.h"
#include "tinv.h"
#include "train_loss.h"

typedef struct ti_check {
    ti_safetensors *st;
    double rtol, worst_abs, worst_rel;
    int failed;
} ti_check;

/* Compare `x` (n floats) with tensor `name` of the case: max|x − ref| ≤ rtol · max|ref|. */
static void compare(ti_check *c, const char *name, const float *x, size_t n)
{
    const ti_st_tensor *t = ti_safetensors_find(c->st, name);
    float *ref = t && (size_t)t->numel == n ? malloc((n ? n : 1) * sizeof *ref) : NULL;
    if (ref == NULL || ti_st_to_f32(t, ref, n) != TINV_OK) {
        fprintf(stderr, "    %s: missing, or not %zu values\n", name, n);
        free(ref);
        c->failed = 1;
        return;
    }
    double max_abs, max_ref;
    golden_max_error(x, ref, n, &max_abs, &max_ref);
    free(ref);
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    fprintf(stderr, "    %s: max_abs %.3g max_rel %.3g\n", name, max_abs, rel);
    if (rel > c->worst_rel) {
        c->worst_rel = rel;
        c->worst_abs = max_abs;
    }
    if (!(max_abs <= c->rtol * max_ref)) {
        fprintf(stderr, "    %s: max_abs %.3g > %.1g * max|ref| %.3g\n", name, max_abs, c->rtol, max_ref);
        c->failed = 1;
    }
}

static void compare_tensor(ti_check *c, const char *name, const ts_tensor *t)
{
    size_t n = t ? (size_t)ts_numel(t) : 0;
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (t == NULL || x == NULL || ts_to_host(t, x, TS_F32, n) != TINV_OK) {
        fprintf(stderr, "    %s: not computed (%s)\n", name, tinv_last_error());
        c->failed = 1;
    } else {
        compare(c, name, x, n);
    }
    free(x);
}

/* A case tensor as a float32 tensor on the CPU (NULL if missing). */
static ts_tensor *input(ti_check *c, const char *name)
{
    const ti_st_tensor *t = ti_safetensors_find(c->st, name);
    ts_tensor *out = NULL;
    if (t == NULL || ti_st_to_tensor(t, TS_F32, (ts_device){TS_CPU, 0}, NULL, 0, &out) != TINV_OK)
        return NULL;
    return out;
}

/* The ids of `text` must equal input.ids exactly. */
static int ids_match(ti_check *c, tinv_tokenizer *tok, const char *text)
{
    const ti_st_tensor *t = ti_safetensors_find(c->st, "input.ids");
    int32_t ids[1024];
    float ref[1024];
    size_t n = 0;
    if (t == NULL || t->numel > 1024 || tinv_tokenizer_encode(tok, text, 1, ids, 1024, &n, NULL) != TINV_OK ||
        (int64_t)n != t->numel || ti_st_to_f32(t, ref, n) != TINV_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((int32_t)ref[i] != ids[i]) {
            fprintf(stderr, "    ids of '%s' [%zu]: %d, expected %d\n", text, i, ids[i], (int)ref[i]);
            return 0;
        }
    return 1;
}

/* The learned_embeds file we write must hold the same key, shape and values as the reference's. */
static void compare_embeds_file(ti_check *c, tinv_model *m, const char *set_dir, json_t *args, const char *token)
{
    const char *file = json_string_value(json_object_get(args, "learned_embeds_file"));
    char ref_path[4096], out_path[4096];
    snprintf(ref_path, sizeof ref_path, "%s/%s", set_dir, file ? file : "");
    snprintf(out_path, sizeof out_path, "%s/tinv-golden-ti-%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    ti_safetensors *ref = NULL, *ours = NULL;
    if (file == NULL || tinv_model_save_embedding(m, token, out_path, TINV_EMBEDDING_DIFFUSERS) != TINV_OK ||
        ti_safetensors_open(ref_path, &ref) != TINV_OK || ti_safetensors_open(out_path, &ours) != TINV_OK) {
        fprintf(stderr, "    learned_embeds: %s\n", tinv_last_error());
        c->failed = 1;
    } else {
        const ti_st_tensor *a = ti_safetensors_find(ref, token), *b = ti_safetensors_find(ours, token);
        if (a == NULL || b == NULL || ti_safetensors_count(ours) != 1 || a->ndim != b->ndim || a->numel != b->numel ||
            a->shape[0] != b->shape[0]) {
            fprintf(stderr, "    learned_embeds: key '%s' or its shape differs from the reference file\n", token);
            c->failed = 1;
        } else {
            float *x = malloc((size_t)b->numel * sizeof *x);
            if (x != NULL && ti_st_to_f32(b, x, (size_t)b->numel) == TINV_OK) {
                ti_safetensors *keep = c->st;
                c->st = ref;
                compare(c, token, x, (size_t)b->numel);
                c->st = keep;
            } else {
                c->failed = 1;
            }
            free(x);
        }
    }
    ti_safetensors_close(ref);
    ti_safetensors_close(ours);
    remove(out_path);
}

golden_result golden_textual_inversion(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    json_t *args = json_object_get(c, "args");
    json_t *tokens = json_object_get(args, "placeholder_tokens");
    const char *token = json_string_value(json_array_get(tokens, 0));
    const char *init = json_string_value(json_object_get(args, "initializer_token"));
    const char *text = json_string_value(json_object_get(args, "text"));
    int n = (int)json_array_size(tokens);
    json_t *rtol = json_object_get(json_object_get(c, "tolerance"), "rtol_max");
    ti_check chk = {NULL, json_is_number(rtol) ? json_number_value(rtol) : 1e-4, 0, 0, 0};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    tinv_model *m = golden_model(set_dir, detail, cap);
    tinv_tokenizer *tok = NULL;
    tinv_optimizer *opt = NULL;
    golden_result result = GOLDEN_FAIL;
    if (m == NULL || token == NULL || init == NULL || text == NULL)
        goto out;
    if (ti_safetensors_open(path, &chk.st) != TINV_OK || tinv_tokenizer_load(set_dir, NULL, &tok) != TINV_OK ||
        tinv_model_add_token(m, tok, token, n, init, 0) != TINV_OK) {
        snprintf(detail, cap, "setup: %s", tinv_last_error());
        goto out;
    }
    /* Ids of the placeholders, as the reference's tokenizer gave them. */
    for (int i = 0; i < n; i++) {
        int32_t want = (int32_t)json_integer_value(json_array_get(json_object_get(args, "placeholder_token_ids"), i));
        int32_t got = -1;
        tinv_tokenizer_token_to_id(tok, json_string_value(json_array_get(tokens, i)), &got);
        if (got != want) {
            snprintf(detail, cap, "placeholder %d has id %d, expected %d", i, got, want);
            goto out;
        }
    }
    if (!ids_match(&chk, tok, text)) {
        snprintf(detail, cap, "the ids of the case's text differ from input.ids");
        goto out;
    }
    /* The text names every vector's token; the bare token alone must expand to the same ids. */
    char spelled[2048] = "", bare[4096];
    for (int i = 0; i < n; i++)
        snprintf(spelled + strlen(spelled), sizeof spelled - strlen(spelled), "%s%s", i ? " " : "",
                 json_string_value(json_array_get(tokens, i)));
    const char *at = n > 1 ? strstr(text, spelled) : NULL;
    if (at != NULL) {
        snprintf(bare, sizeof bare, "%.*s%s%s", (int)(at - text), text, token, at + strlen(spelled));
        if (!ids_match(&chk, tok, bare)) {
            snprintf(detail, cap, "'%s' does not expand to the ids of '%s'", bare, text);
            goto out;
        }
    }
    size_t width = (size_t)m->text.cfg.hidden_size;
    float *rows = malloc((size_t)n * width * sizeof *rows);
    if (rows && tinv_model_get_token_vectors(m, token, rows, (size_t)n * width, NULL) == TINV_OK)
        compare(&chk, "input.initial_rows", rows, (size_t)n * width);

    double lr = json_number_value(json_object_get(args, "lr"));
    json_t *betas = json_object_get(args, "betas");
    if (tinv_optimizer_create(m, token, &opt) != TINV_OK || tinv_optimizer_set_lr(opt, lr) != TINV_OK ||
        tinv_optimizer_set_betas(opt, json_number_value(json_array_get(betas, 0)),
                                 json_number_value(json_array_get(betas, 1))) != TINV_OK ||
        tinv_optimizer_set_weight_decay(opt, json_number_value(json_object_get(args, "weight_decay"))) != TINV_OK ||
        tinv_optimizer_set_eps(opt, json_number_value(json_object_get(args, "eps"))) != TINV_OK) {
        snprintf(detail, cap, "optimizer: %s", tinv_last_error());
        free(rows);
        goto out;
    }
    size_t scope = ts_scope_begin();
    ts_tensor *ids = input(&chk, "input.ids"), *latents = input(&chk, "input.latents"),
              *noise = input(&chk, "input.noise"), *tsteps = input(&chk, "input.timestep");
    int32_t t[64];
    int64_t bsz = tsteps ? ts_numel(tsteps) : 0;
    float tf[64];
    tinv_status st = ids && latents && noise && tsteps && bsz <= 64 ? ts_to_host(tsteps, tf, TS_F32, (size_t)bsz)
                                                                   : TINV_ERR_BAD_FORMAT;
    for (int64_t i = 0; i < bsz; i++)
        t[i] = (int32_t)tf[i];
    double loss = NAN;
    ti_loss_parts parts = {0};
    if (st == TINV_OK)
        st = ti_diffusion_loss(m, ids, latents, noise, t, 1, &loss, &parts);
    if (st == TINV_OK) {
        compare_tensor(&chk, "output.noisy_latents", parts.noisy);
        compare_tensor(&chk, "output.encoder_hidden_states", parts.context);
        compare_tensor(&chk, "output.model_pred", parts.pred);
        compare_tensor(&chk, "output.target", parts.target);
        float lf = (float)loss;
        compare(&chk, "output.loss", &lf, 1);
        compare_tensor(&chk, "output.grad", ts_grad(ti_concepts_find(&m->text.concepts, token)->vectors));
        int applied = 0;
        st = tinv_optimizer_step(opt, &applied);
        if (st == TINV_OK && applied &&
            tinv_model_get_token_vectors(m, token, rows, (size_t)n * width, NULL) == TINV_OK)
            compare(&chk, "output.rows_after_step", rows, (size_t)n * width);
        else
            chk.failed = 1;
        compare_embeds_file(&chk, m, set_dir, args, token);
    }
    ti_loss_parts_free(&parts);
    ts_scope_end(scope);
    free(rows);
    if (st != TINV_OK) {
        snprintf(detail, cap, "error: %s", st == TINV_ERR_BAD_FORMAT ? "case inputs missing" : tinv_last_error());
        goto out;
    }
    snprintf(detail, cap, "loss %.6g, max_abs %.3g max_rel %.3g", loss, chk.worst_abs, chk.worst_rel);
    result = chk.failed ? GOLDEN_FAIL : GOLDEN_PASS;
out:
    tinv_optimizer_free(opt);
    tinv_tokenizer_free(tok);
    ti_safetensors_close(chk.st);
    golden_model_release(); /* it now has learned tokens */
    return result;
}
