/* Tests of the toy-world model (lib/toy_model.c) and of the committed toy/model it made:
 *  - a few-step build is byte-identical when repeated (the regeneration promise, in small), its
 *    tokenizer knows every caption word but the held-out ones, and the folder loads;
 *  - a weight store saved with ti_weights_save loads back exactly;
 *  - the committed model has learnt to denoise the toy world's pictures (its diffusion loss is a
 *    fraction of an untrained model's) and uses its captions (another picture's caption makes the
 *    loss much worse; all printed). Sampled caption following and TI recall are measured by
 *    make bench-toy, not asserted: see docs/toy-world.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../shim/shim.h"
#include "check.h"
#include "model.h"
#include "tinv.h"
#include "toy_model.h"
#include "toy_world.h"
#include "weights.h"

static char tmpdir[] = "/tmp/tinv_toy_model_XXXXXX";

static ti_toy_train_config tiny_config(void)
{
    ti_toy_train_config c;
    ti_toy_train_defaults(&c);
    c.vae_steps = 2;
    c.vae_batch = 2;
    c.unet_steps = 2;
    c.unet_batch = 2;
    return c;
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *da = check_read_file(a, &na), *db = check_read_file(b, &nb);
    int same = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return same;
}

static size_t token_count(tinv_tokenizer *tok, const char *word)
{
    size_t n = 0;
    return tinv_tokenizer_encode(tok, word, 0, NULL, 0, &n, NULL) == TINV_OK ? n - 2 : 0; /* minus BOS, EOS */
}

static void test_build_is_reproducible(void)
{
    ti_toy_train_config c = tiny_config();
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/a", tmpdir);
    snprintf(b, sizeof b, "%s/b", tmpdir);
    CHECK(ti_toy_model_build(a, &c) == TINV_OK);
    CHECK(ti_toy_model_build(b, &c) == TINV_OK);
    static const char *const files[] = {
        "model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
        "text_encoder/config.json", "text_encoder/model.safetensors", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char pa[800], pb[800];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (!same_file(pa, pb))
            fprintf(stderr, "    %s differs\n", files[i]);
        CHECK(same_file(pa, pb));
    }
    tinv_model *m = NULL;
    tinv_tokenizer *tok = NULL;
    CHECK(tinv_model_load(a, NULL, &m) == TINV_OK);
    int ok = tinv_tokenizer_load(a, NULL, &tok) == TINV_OK;
    /* every caption word is one token; the held-out names are not in the vocabulary */
    static const char *const words[] = {"a", "on", "background", "circle", "square", "triangle", "cross",
                                        "small", "large", "red", "green", "blue", "yellow", "orange",
                                        "plain", "gradient", "striped", "white", "gray", "black", "shape"};
    for (size_t i = 0; ok && i < sizeof words / sizeof *words; i++) {
        ok = token_count(tok, words[i]) == 1;
        if (!ok)
            fprintf(stderr, "    '%s' is %zu tokens\n", words[i], token_count(tok, words[i]));
    }
    int held_out_split = token_count(tok, "ring") > 1 && token_count(tok, "purple") > 1;
    double scale = m->vae.cfg.scaling_factor;
    tinv_tokenizer_free(tok);
    tinv_model_free(m);
    CHECK(ok);
    CHECK(held_out_split);
    CHECK(scale > 0.01 && scale < 100 && scale != 1.0); /* measured from the VAE, written to its config */
}

static void test_weights_save_round_trip(void)
{
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/a", tmpdir);
    snprintf(path, sizeof path, "%s/vae32.safetensors", tmpdir);
    tinv_model *m = NULL;
    CHECK(tinv_model_load(dir, NULL, &m) == TINV_OK);
    ti_weights *back = NULL;
    ts_device cpu = {TS_CPU, 0};
    tinv_status st = ti_weights_save(m->vae.w, "decoder.", TI_ST_F32, path);
    if (st == TINV_OK)
        st = ti_weights_create(TS_F32, cpu, &back);
    if (st == TINV_OK)
        st = ti_weights_load_file(back, path, "decoder.");
    size_t decoder = 0;
    int same = st == TINV_OK;
    for (size_t i = 0; same && i < ti_weights_count(m->vae.w); i++) {
        const char *name;
        ts_tensor *t = ti_weights_at(m->vae.w, i, &name);
        if (strncmp(name, "decoder.", 8) != 0)
            continue;
        decoder++;
        ts_tensor *u = ti_weights_find(back, "%s", name);
        size_t scope = ts_scope_begin();
        same = u != NULL && ts_numel(u) == ts_numel(t) && ts_item(ts_max_abs(ts_sub(t, u))) == 0.0;
        ts_scope_end(scope);
    }
    int count_ok = back && ti_weights_count(back) == decoder && decoder > 10;
    ti_weights_free(back);
    tinv_model_free(m);
    CHECK(st == TINV_OK);
    CHECK(same);
    CHECK(count_ok);
}

/* The checker on one float [-1, 1] CHW picture. */
static void classify_planes(const float *planes, int side, int *shape, int *colour)
{
    size_t plane = (size_t)side * (size_t)side;
    uint8_t *rgb = malloc(plane * 3);
    for (size_t p = 0; rgb && p < plane; p++)
        for (size_t ch = 0; ch < 3; ch++)
            rgb[p * 3 + ch] = (uint8_t)lrintf((planes[ch * plane + p] + 1) * 127.5f);
    if (rgb)
        ti_toy_classify(rgb, side, shape, colour);
    free(rgb);
}

/* The training pictures draw the held-out concepts but the captions never name them: rings are
 * "shape"s (as some known shapes are too), purple pictures have no colour word. */
static void test_training_batch_draws_but_never_names(void)
{
    enum { N = 600, SIDE = 32, CAP = 160 };
    ti_toy_train_config c;
    ti_toy_train_defaults(&c);
    float *px = malloc((size_t)N * 3 * SIDE * SIDE * sizeof *px);
    char *captions = malloc((size_t)N * CAP);
    uint64_t rng = 99;
    ti_toy_training_batch(&c, &rng, N, px, captions, CAP);
    int rings = 0, purples = 0, named = 0, class_word = 0, class_word_known = 0;
    for (int i = 0; px && captions && i < N; i++) {
        int shape = -1, colour = -1;
        classify_planes(px + (size_t)i * 3 * SIDE * SIDE, SIDE, &shape, &colour);
        const char *cap = captions + (size_t)i * CAP;
        rings += shape == TI_TOY_RING;
        purples += colour == TI_TOY_PURPLE;
        named += strstr(cap, "ring") != NULL || strstr(cap, "purple") != NULL;
        int says_shape = strstr(cap, "shape") != NULL;
        class_word += says_shape;
        class_word_known += says_shape && shape != TI_TOY_RING;
    }
    printf("    %d training pictures: %d rings, %d purple shapes, %d captions say \"shape\" (%d of them "
           "for known shapes), %d name a held-out concept\n",
           N, rings, purples, class_word, class_word_known, named);
    CHECK(rings > N / 10 && purples > N / 12); /* about 1/5 and 1/6 */
    CHECK(named == 0);
    CHECK(class_word > rings / 2 && class_word_known > 0);
    c.held_out_drawn = 0; /* the other setting: never drawn */
    ti_toy_training_batch(&c, &rng, N, px, captions, CAP);
    int drawn = 0;
    for (int i = 0; px && i < N; i++) {
        int shape = -1, colour = -1;
        classify_planes(px + (size_t)i * 3 * SIDE * SIDE, SIDE, &shape, &colour);
        drawn += shape == TI_TOY_RING || colour == TI_TOY_PURPLE;
    }
    CHECK(drawn == 0);
    free(px);
    free(captions);
}

/* Mean diffusion loss of `dir`'s model over n fresh captioned pictures of the toy world (held-out
 * concepts drawn, captioned without their names) at timesteps spread evenly over the schedule. Picture i is paired with caption
 * (i + shift) % n: shift 0 gives each its own caption, others another picture's. */
static tinv_status toy_loss(const char *dir, int n, int shift, double *out)
{
    enum { SIDE = 32, CAP = 160, L = 77 };
    tinv_model *m = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_status st = tinv_model_load(dir, NULL, &m);
    if (st != TINV_OK)
        return st;
    st = tinv_tokenizer_load(dir, NULL, &tok);
    ti_toy_train_config c;
    ti_toy_train_defaults(&c);
    c.drop_part = c.drop_caption = 0; /* full captions */
    int64_t factor = 0;
    if (st == TINV_OK)
        st = tinv_model_get_int(m, TINV_MODEL_VAE_SCALE_FACTOR, &factor);
    const size_t ls = factor > 0 ? SIDE / (size_t)factor : 1, per = 3 * SIDE * SIDE, lat = 4 * ls * ls;
    float *px = malloc(n * per * sizeof *px), *mean = malloc(n * lat * sizeof *mean);
    float *logvar = malloc(n * lat * sizeof *logvar), *noise = malloc(n * lat * sizeof *noise);
    char *captions = malloc((size_t)n * CAP);
    const char **prompts = malloc((size_t)n * sizeof *prompts);
    int32_t *t = malloc((size_t)n * sizeof *t);
    uint64_t rng = 4242;
    if (st == TINV_OK) {
        ti_toy_training_batch(&c, &rng, n, px, captions, CAP);
        st = tinv_model_vae_encode(m, px, (size_t)n, SIDE, SIDE, mean, logvar);
    }
    for (int i = 0; st == TINV_OK && i < n; i++) {
        prompts[i] = captions + (size_t)((i + shift) % n) * CAP;
        t[i] = (int32_t)((i * 997) / n);
        for (size_t k = 0; k < lat; k++) { /* unit Gaussian noise (Box-Muller on the toy PRNG) */
            double u1 = ((ti_toy_rng_next(&rng) >> 11) + 1.0) / 9007199254740993.0;
            double u2 = (ti_toy_rng_next(&rng) >> 11) / 9007199254740992.0;
            noise[i * lat + k] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
            mean[i * lat + k] *= (float)m->vae.cfg.scaling_factor;
        }
    }
    if (st == TINV_OK)
        st = tinv_model_diffusion_loss(m, tok, prompts, n, mean, ls, ls, t, noise, 0, out);
    free(px);
    free(mean);
    free(logvar);
    free(noise);
    free(captions);
    free(prompts);
    free(t);
    tinv_tokenizer_free(tok);
    tinv_model_free(m);
    return st;
}

/* The committed model has learnt to denoise the toy world (its diffusion loss is a small fraction
 * of an untrained model's: same architecture and tokenizer, the few-step build above) and it
 * uses its captions: with another picture's caption the loss is clearly higher. */
static void test_committed_model_denoises_and_listens(void)
{
    if (access("toy/model/model_index.json", R_OK) != 0) {
        check_skip(__func__, "toy/model is missing (run from the source tree)");
        return;
    }
    enum { N = 64 };
    char untrained[700];
    snprintf(untrained, sizeof untrained, "%s/a", tmpdir);
    double trained = -1, wrong = -1, fresh = -1;
    CHECK(toy_loss("toy/model", N, 0, &trained) == TINV_OK);
    CHECK(toy_loss("toy/model", N, 1, &wrong) == TINV_OK);
    CHECK(toy_loss(untrained, N, 0, &fresh) == TINV_OK);
    printf("    diffusion loss on %d fresh captioned pictures: committed model %.4f (%.4f with another "
           "picture's caption, +%.0f %%), untrained %.4f\n",
           N, trained, wrong, 100 * (wrong / trained - 1), fresh);
    CHECK(trained < 0.25);
    CHECK(trained < 0.2 * fresh);
    CHECK(wrong > 2.0 * trained); /* the first model, which ignored its text: +5 % */
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    ts_set_num_threads(2);
    ts_set_blas_threads(1);
    RUN(test_build_is_reproducible);
    RUN(test_weights_save_round_trip);
    RUN(test_training_batch_draws_but_never_names);
    RUN(test_committed_model_denoises_and_listens);
    check_remove_tree(tmpdir);
    return check_summary("test_toy_model");
}
