/* Tests of single-file checkpoint loading: the sd1-tiny single file against its diffusers folder
 * (every tensor bit-identical), the key rules against the fixture's key map, architecture
 * inference, synthetic SD2/OpenCLIP and old-CLIP layouts rewritten from the fixture, and bad
 * input (missing tensor, wrong shape, NaN, no UNet, no text encoder). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clip_text.h"
#include "error.h"
#include "safetensors.h"
#include "shim.h"
#include "single_file.h"
#include "unet.h"
#include "vae.h"

static const ts_device CPU = {TS_CPU, 0};
static char tmpdir[] = "/tmp/tinv_sf_XXXXXX";
static char fixture_dir[1024]; /* <fixtures>/sd1-tiny, empty when missing */
static char single_path[1100];

static const char *fixture(const char *rel)
{
    static char buf[4][1200];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 1200, "%s/%s", fixture_dir, rel);
    return p;
}

/* ---- comparing against the diffusers folder ------------------------------------------- */

/* Every tensor of the folder file `rel` is in `mine` with the same values (and, when
 * `exact_shape`, the same shape); `mine` holds nothing else. */
static int same_as_folder(const ti_weights *mine, const char *rel, int exact_shape)
{
    ti_safetensors *st = NULL;
    ti_weights *ref = NULL;
    int ok = ti_safetensors_open(fixture(rel), &st) == TINV_OK && ti_weights_create(TS_F32, CPU, &ref) == TINV_OK &&
             ti_weights_load_file(ref, fixture(rel), "") == TINV_OK;
    if (ok && ti_weights_count(mine) != ti_weights_count(ref)) {
        fprintf(stderr, "    %s: %zu tensors loaded, folder has %zu\n", rel, ti_weights_count(mine),
                ti_weights_count(ref));
        ok = 0;
    }
    for (size_t i = 0; ok && i < ti_safetensors_count(st); i++) {
        const char *name = ti_safetensors_at(st, i)->name;
        const ts_tensor *a = ti_weights_find(mine, "%s", name), *b = ti_weights_find(ref, "%s", name);
        if (a == NULL || b == NULL || ts_numel(a) != ts_numel(b) || (exact_shape && ts_ndim(a) != ts_ndim(b))) {
            fprintf(stderr, "    %s: '%s' missing or of another size\n", rel, name);
            ok = 0;
            break;
        }
        for (int d = 0; exact_shape && d < ts_ndim(a); d++)
            if (ts_size(a, d) != ts_size(b, d)) {
                fprintf(stderr, "    %s: '%s' has another shape\n", rel, name);
                ok = 0;
            }
        size_t n = (size_t)ts_numel(a);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        if (ok && (ts_to_host(a, x, TS_F32, n) != TINV_OK || ts_to_host(b, y, TS_F32, n) != TINV_OK ||
                   memcmp(x, y, n * sizeof *x) != 0)) {
            fprintf(stderr, "    %s: '%s' differs\n", rel, name);
            ok = 0;
        }
        free(x);
        free(y);
    }
    ti_weights_free(ref);
    ti_safetensors_close(st);
    return ok;
}

typedef struct loaded {
    ti_clip_config text_cfg;
    ti_unet_config unet_cfg;
    ti_vae_config vae_cfg;
    ti_weights *text, *unet, *vae;
} loaded;

static tinv_status load(const char *path, const char *config_dir, loaded *m)
{
    return ti_single_file_load(path, config_dir, TS_F32, CPU, &m->text_cfg, &m->text, &m->unet_cfg, &m->unet,
                               &m->vae_cfg, &m->vae);
}

static void unload(loaded *m)
{
    ti_weights_free(m->text);
    ti_weights_free(m->unet);
    ti_weights_free(m->vae);
}

/* Run each network once on a tiny input, so that the configs are checked against the weights
 * by the forward code itself. */
static int forward_runs(const loaded *m)
{
    size_t scope = ts_scope_begin();
    ti_clip_text text = {m->text_cfg, m->text};
    ti_unet unet = {m->unet_cfg, m->unet};
    ti_vae vae = {m->vae_cfg, m->vae};
    int64_t ids_shape[2] = {1, 3}, one = 1;
    int64_t side = (int64_t)1 << (m->unet_cfg.num_blocks - 1);
    int64_t latent[4] = {1, m->unet_cfg.in_channels, side, side}, vae_latent[4] = {1, m->vae_cfg.latent_channels, 1, 1};
    ts_tensor *ctx = ti_clip_encode(&text, ti_clip_embed_tokens(&text, ts_zeros(ids_shape, 2, TS_I64, CPU)));
    ts_tensor *eps =
        ti_unet_forward(&unet, ts_zeros(latent, 4, TS_F32, CPU), ts_full(&one, 1, 10, TS_F32, CPU), ctx, 0);
    ts_tensor *img = ti_vae_decode(&vae, ts_full(vae_latent, 4, 0.1, TS_F32, CPU), 0);
    int ok = ctx != NULL && eps != NULL && img != NULL && ts_all_finite(eps) && ts_all_finite(img);
    if (!ok)
        fprintf(stderr, "    forward failed: %s\n", tinv_last_error());
    ts_scope_end(scope);
    return ok;
}

/* ---- synthetic checkpoints rewritten from the fixture --------------------------------- */

typedef struct outfile {
    ti_st_entry *e;
    size_t n, cap;
    void *owned[4096];
    size_t n_owned;
} outfile;

static void *own(outfile *o, void *p)
{
    if (o->n_owned < sizeof o->owned / sizeof o->owned[0])
        o->owned[o->n_owned++] = p;
    return p;
}

static void add(outfile *o, const char *name, ti_st_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 256;
        o->e = realloc(o->e, o->cap * sizeof *o->e);
    }
    int64_t *s = own(o, malloc(8 * sizeof *s));
    memcpy(s, shape, (size_t)ndim * sizeof *s);
    o->e[o->n++] = (ti_st_entry){own(o, strdup(name)), dtype, ndim, s, data};
}

static int finish(outfile *o, const char *path)
{
    int ok = ti_safetensors_write(path, o->e, o->n, NULL, 0) == TINV_OK;
    for (size_t i = 0; i < o->n_owned; i++)
        free(o->owned[i]);
    free(o->e);
    memset(o, 0, sizeof *o);
    return ok;
}

enum variant { V_SD2, V_OLD_CLIP, V_DROP, V_RESHAPE, V_NAN, V_DROP_PREFIX };

static const char *const TE = "cond_stage_model.transformer.text_model.";

/* OpenCLIP name of a transformers CLIP tensor (after the text_model. prefix); "" to skip (k/v,
 * merged into in_proj), NULL when it is q_proj (merged by the caller). */
static const char *openclip_name(const char *hf, char *buf, size_t size)
{
    static const char *const map[][2] = {
        {"layer_norm1.", "ln_1."}, {"layer_norm2.", "ln_2."}, {"self_attn.out_proj.", "attn.out_proj."},
        {"mlp.fc1.", "mlp.c_fc."}, {"mlp.fc2.", "mlp.c_proj."},
    };
    int layer, off = 0;
    if (strcmp(hf, "embeddings.token_embedding.weight") == 0)
        return "token_embedding.weight";
    if (strcmp(hf, "embeddings.position_embedding.weight") == 0)
        return "positional_embedding";
    if (strncmp(hf, "final_layer_norm.", 17) == 0) {
        snprintf(buf, size, "ln_final.%s", hf + 17);
        return buf;
    }
    if (sscanf(hf, "encoder.layers.%d.%n", &layer, &off) != 1 || off == 0)
        return "";
    const char *rest = hf + off;
    if (strncmp(rest, "self_attn.q_proj.", 17) == 0)
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(rest, map[i][0], strlen(map[i][0])) == 0) {
            snprintf(buf, size, "transformer.resblocks.%d.%s%s", layer, map[i][1], rest + strlen(map[i][0]));
            return buf;
        }
    return "";
}

/* Add the OpenCLIP form of one text tensor as layer `as_layer` (the fixture's layer, or an extra
 * copy standing in for OpenCLIP's 24th layer that diffusers drops). */
static void add_openclip(outfile *o, const ti_safetensors *st, const ti_st_tensor *t, int layer, int as_layer)
{
    char hf[256], name[256], buf[256];
    snprintf(hf, sizeof hf, "%s", t->name + strlen(TE));
    if (layer >= 0) { /* renumber */
        char tail[256];
        int off = 0;
        sscanf(hf, "encoder.layers.%*d.%n", &off);
        snprintf(tail, sizeof tail, "%s", hf + off);
        snprintf(hf, sizeof hf, "encoder.layers.%d.%s", as_layer, tail);
    }
    const char *oc = openclip_name(hf, buf, sizeof buf);
    if (oc != NULL && oc[0] == '\0')
        return;
    if (oc != NULL) {
        snprintf(name, sizeof name, "cond_stage_model.model.%s", oc);
        add(o, name, t->dtype, t->ndim, t->shape, t->data);
        return;
    }
    /* q_proj: stack q, k, v of the fixture's layer into in_proj_{weight,bias}. */
    int is_bias = strstr(hf, ".bias") != NULL;
    unsigned char *cat = own(o, malloc(3 * t->nbytes));
    const char *parts[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        char src[256];
        snprintf(src, sizeof src, "%sencoder.layers.%d.self_attn.%s.%s", TE, layer, parts[i],
                 is_bias ? "bias" : "weight");
        memcpy(cat + i * t->nbytes, ti_safetensors_find(st, src)->data, t->nbytes);
    }
    int64_t shape[2] = {3 * t->shape[0], t->ndim > 1 ? t->shape[1] : 0};
    snprintf(name, sizeof name, "cond_stage_model.model.transformer.resblocks.%d.attn.in_proj_%s", as_layer,
             is_bias ? "bias" : "weight");
    add(o, name, t->dtype, t->ndim, shape, cat);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Write a variant of the fixture's single file; `arg` names the tensor (or prefix) a bad-input
 * variant touches. */
static int write_variant(const char *path, enum variant v, const char *arg)
{
    ti_safetensors *st = NULL;
    if (ti_safetensors_open(single_path, &st) != TINV_OK)
        return 0;
    outfile o;
    memset(&o, 0, sizeof o);
    for (size_t i = 0; i < ti_safetensors_count(st); i++) {
        const ti_st_tensor *t = ti_safetensors_at(st, i);
        int is_text = strncmp(t->name, TE, strlen(TE)) == 0;
        if (v == V_SD2 && is_text) {
            int layer = -1;
            sscanf(t->name + strlen(TE), "encoder.layers.%d.", &layer);
            add_openclip(&o, st, t, layer, layer);
            if (layer == 2)
                add_openclip(&o, st, t, layer, 3);
        } else if (v == V_SD2 && t->ndim == 4 && (ends_with(t->name, ".proj_in.weight") ||
                                                  ends_with(t->name, ".proj_out.weight"))) {
            add(&o, t->name, t->dtype, 2, t->shape, t->data); /* linear projections, same data */
        } else if (v == V_SD2 && strstr(t->name, "decoder.mid.attn_1.q.weight")) {
            add(&o, t->name, t->dtype, 2, t->shape, t->data); /* already-linear VAE attention */
        } else if (v == V_OLD_CLIP && is_text) {
            char name[256];
            snprintf(name, sizeof name, "cond_stage_model.transformer.%s", t->name + strlen(TE));
            add(&o, name, t->dtype, t->ndim, t->shape, t->data);
        } else if ((v == V_DROP && strcmp(t->name, arg) == 0) ||
                   (v == V_DROP_PREFIX && strncmp(t->name, arg, strlen(arg)) == 0)) {
            continue;
        } else if (v == V_RESHAPE && strcmp(t->name, arg) == 0) {
            int64_t shape[8];
            memcpy(shape, t->shape, sizeof shape);
            shape[t->ndim - 1] /= 2; /* a prefix of the data in a smaller shape */
            add(&o, t->name, t->dtype, t->ndim, shape, t->data);
        } else if (v == V_NAN && strcmp(t->name, arg) == 0) {
            float *copy = own(&o, malloc(t->nbytes));
            memcpy(copy, t->data, t->nbytes);
            copy[t->numel - 1] = NAN;
            add(&o, t->name, t->dtype, t->ndim, t->shape, copy);
        } else {
            add(&o, t->name, t->dtype, t->ndim, t->shape, t->data);
        }
    }
    if (v == V_SD2) { /* keys a loader must ignore */
        static const float zeros[64];
        int64_t four = 4, sq[2] = {4, 4};
        add(&o, "model_ema.decay", TI_ST_F32, 0, &four, zeros);
        add(&o, "betas", TI_ST_F32, 1, &four, zeros);
        add(&o, "alphas_cumprod", TI_ST_F32, 1, &four, zeros);
        add(&o, "cond_stage_model.model.text_projection", TI_ST_F32, 2, sq, zeros);
        add(&o, "cond_stage_model.model.logit_scale", TI_ST_F32, 0, &four, zeros);
    }
    int ok = finish(&o, path);
    ti_safetensors_close(st);
    return ok;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* (1) with the folder's configs, every diffusers tensor is present and bit-identical. */
static void test_fixture_with_config(void)
{
    long live = ts_live_tensors();
    loaded m;
    CHECK(load(single_path, fixture_dir, &m) == TINV_OK);
    CHECK(m.unet_cfg.block_out[1] == 64 && m.text_cfg.num_heads == 4);
    int ok = same_as_folder(m.text, "text_encoder/model.safetensors", 1) &&
             same_as_folder(m.unet, "unet/diffusion_pytorch_model.safetensors", 1) &&
             same_as_folder(m.vae, "vae/diffusion_pytorch_model.safetensors", 1) && forward_runs(&m);
    unload(&m);
    CHECK(ok);
    CHECK(ts_live_tensors() == live);
}

typedef struct map_check {
    json_t *map;
    size_t seen, bad;
} map_check;

static tinv_status check_against_map(void *ctx, const ti_sf_key *k)
{
    static const char *const comp[3] = {"text_encoder", "unet", "vae"};
    map_check *c = ctx;
    char name[256];
    snprintf(name, sizeof name, "%s/%s", comp[k->component], k->dst);
    json_t *e = json_object_get(c->map, name);
    const char *orig = json_string_value(json_object_get(e, "original"));
    int reshaped = json_is_string(json_object_get(e, "reshape"));
    c->seen++;
    if (orig == NULL || strcmp(orig, k->src) != 0 || reshaped != (k->transform == TI_SF_SQUEEZE_1X1)) {
        if (c->bad++ < 5)
            fprintf(stderr, "    %s: rule says '%s', map says '%s'\n", name, k->src, orig ? orig : "(absent)");
    }
    return TINV_OK;
}

/* The generated rules agree with the fixture's key map, entry for entry. */
static void test_rules_match_key_map(void)
{
    json_error_t err;
    map_check c = {json_load_file(fixture("single_file/sd1-tiny_key_map.json"), 0, &err), 0, 0};
    CHECK(c.map != NULL);
    ti_clip_config text;
    ti_unet_config unet;
    ti_vae_config vae;
    int ok = ti_clip_config_load(fixture("text_encoder/config.json"), &text) == TINV_OK &&
             ti_unet_config_load(fixture("unet/config.json"), &unet) == TINV_OK &&
             ti_vae_config_load(fixture("vae/config.json"), &vae) == TINV_OK &&
             ti_sf_text_keys(&text, TI_SF_TEXT_CLIP, check_against_map, &c) == TINV_OK &&
             ti_sf_unet_keys(&unet, check_against_map, &c) == TINV_OK &&
             ti_sf_vae_keys(&vae, check_against_map, &c) == TINV_OK;
    size_t total = json_object_size(c.map);
    json_decref(c.map);
    CHECK(ok);
    CHECK(c.bad == 0);
    CHECK(c.seen == total); /* no rule missing, none extra */
}

/* (2) inference from key names and shapes, compared with the folder's configs. */
static void test_infer_fixture(void)
{
    ti_safetensors *st = NULL;
    CHECK(ti_safetensors_open(single_path, &st) == TINV_OK);
    ti_unet_config u, ru;
    ti_vae_config v, rv;
    ti_clip_config t;
    int ok = ti_sf_infer_unet(st, &u) == TINV_OK && ti_sf_infer_vae(st, &v) == TINV_OK &&
             ti_sf_infer_text(st, &t) == TINV_OK;
    ti_safetensors_close(st);
    CHECK(ok);
    CHECK(ti_unet_config_load(fixture("unet/config.json"), &ru) == TINV_OK);
    CHECK(ti_vae_config_load(fixture("vae/config.json"), &rv) == TINV_OK);

    CHECK(u.num_blocks == 4 && u.block_out[0] == 32 && u.block_out[1] == 64 && u.block_out[2] == 64 &&
          u.block_out[3] == 64);
    CHECK(u.layers_per_block == 2 && u.cross_attention_dim == 32 && u.linear_projection == 0);
    CHECK(u.in_channels == ru.in_channels && u.out_channels == ru.out_channels);
    CHECK(u.norm_groups == ru.norm_groups && u.norm_eps == ru.norm_eps);
    CHECK(u.transformer_layers == ru.transformer_layers);
    CHECK(u.flip_sin_to_cos == ru.flip_sin_to_cos && u.freq_shift == ru.freq_shift);
    for (int i = 0; i < u.num_blocks; i++)
        CHECK(u.heads[i] == ru.heads[i] && u.down_cross[i] == ru.down_cross[i] && u.up_cross[i] == ru.up_cross[i]);

    CHECK(v.num_blocks == rv.num_blocks && v.layers_per_block == rv.layers_per_block);
    CHECK(v.in_channels == rv.in_channels && v.out_channels == rv.out_channels);
    CHECK(v.latent_channels == rv.latent_channels);
    CHECK(v.norm_groups == rv.norm_groups && v.scaling_factor == rv.scaling_factor);
    for (int i = 0; i < v.num_blocks; i++)
        CHECK(v.block_out[i] == rv.block_out[i]);

    /* Sizes come from shapes; the head count of a 32-wide encoder cannot (1 head, not 4). */
    CHECK(t.hidden_size == 32 && t.num_layers == 3 && t.intermediate_size == 64 && t.vocab_size == 49408);
    CHECK(t.max_positions == 77 && t.quick_gelu == 1 && t.num_heads == 1 && t.layer_norm_eps == 1e-5);
}

/* Without a config folder the whole fixture loads; UNet and VAE weights are those of the folder. */
static void test_fixture_inferred(void)
{
    long live = ts_live_tensors();
    loaded m;
    CHECK(load(single_path, NULL, &m) == TINV_OK);
    int ok = same_as_folder(m.text, "text_encoder/model.safetensors", 1) &&
             same_as_folder(m.unet, "unet/diffusion_pytorch_model.safetensors", 1) &&
             same_as_folder(m.vae, "vae/diffusion_pytorch_model.safetensors", 1) && forward_runs(&m);
    unload(&m);
    CHECK(ok);
    CHECK(ts_live_tensors() == live);
}

/* SD2 layout: OpenCLIP text encoder (fused q/k/v, one extra layer to drop), linear projections,
 * one VAE attention weight already linear, and keys to ignore. */
static void test_sd2_layout(void)
{
    const char *path = check_tmp_path(tmpdir, "sd2.safetensors");
    CHECK(write_variant(path, V_SD2, NULL));
    long live = ts_live_tensors();
    loaded m;
    tinv_status st = load(path, NULL, &m);
    if (st != TINV_OK)
        fprintf(stderr, "    %s\n", tinv_last_error());
    CHECK(st == TINV_OK);
    int ok = m.text_cfg.num_layers == 3 && m.text_cfg.quick_gelu == 0 && m.text_cfg.hidden_size == 32 &&
             m.text_cfg.intermediate_size == 64 && m.text_cfg.max_positions == 77;
    ok = ok && m.unet_cfg.linear_projection == 1 && m.unet_cfg.heads[0] == 1 && m.unet_cfg.heads[1] == 1 &&
         m.unet_cfg.cross_attention_dim == 32;
    ok = ok && same_as_folder(m.text, "text_encoder/model.safetensors", 1) &&
         same_as_folder(m.unet, "unet/diffusion_pytorch_model.safetensors", 0) &&
         same_as_folder(m.vae, "vae/diffusion_pytorch_model.safetensors", 1);
    ok = ok && ts_ndim(ti_weights_find(m.unet, "mid_block.attentions.0.proj_in.weight")) == 2 && forward_runs(&m);
    unload(&m);
    CHECK(ok);
    CHECK(ts_live_tensors() == live);
}

/* Old transformers checkpoints: CLIP names directly under cond_stage_model.transformer. */
static void test_old_clip_layout(void)
{
    const char *path = check_tmp_path(tmpdir, "old_clip.safetensors");
    CHECK(write_variant(path, V_OLD_CLIP, NULL));
    loaded m;
    CHECK(load(path, fixture_dir, &m) == TINV_OK);
    int ok = same_as_folder(m.text, "text_encoder/model.safetensors", 1);
    unload(&m);
    CHECK(ok);
}

/* A bad variant fails with `status`, a message naming `must_name` (and the file when
 * `names_file`), NULL outputs, zeroed configs and no leaked tensors. */
static int fails_cleanly(const char *path, const char *config_dir, tinv_status status, const char *must_name,
                         int names_file)
{
    long live = ts_live_tensors();
    loaded m;
    memset(&m, 0xff, sizeof m);
    tinv_status st = load(path, config_dir, &m);
    const char *msg = tinv_last_error();
    int ok = st == status && strstr(msg, must_name) != NULL && (!names_file || strstr(msg, path) != NULL) &&
             m.text == NULL && m.unet == NULL && m.vae == NULL && m.unet_cfg.num_blocks == 0 &&
             m.text_cfg.hidden_size == 0 && ts_live_tensors() == live;
    if (!ok)
        fprintf(stderr, "    status %d (%s), message: %s\n", (int)st, tinv_status_str(st), msg);
    return ok;
}

/* (3) bad input. */
static void test_missing_tensor(void)
{
    const char *name = "first_stage_model.decoder.mid.attn_1.q.weight", *path = check_tmp_path(tmpdir, "missing.safetensors");
    CHECK(write_variant(path, V_DROP, name));
    CHECK(fails_cleanly(path, fixture_dir, TINV_ERR_BAD_FORMAT, name, 1));
    CHECK(fails_cleanly(path, NULL, TINV_ERR_BAD_FORMAT, name, 1));
    name = "model.diffusion_model.output_blocks.5.2.conv.bias"; /* an upsampler after a transformer */
    CHECK(write_variant(path, V_DROP, name));
    CHECK(fails_cleanly(path, fixture_dir, TINV_ERR_BAD_FORMAT, name, 1));
}

static void test_wrong_shape(void)
{
    const char *name = "model.diffusion_model.time_embed.2.weight", *path = check_tmp_path(tmpdir, "shape.safetensors");
    CHECK(write_variant(path, V_RESHAPE, name));
    CHECK(fails_cleanly(path, fixture_dir, TINV_ERR_BAD_FORMAT, name, 1));
    CHECK(strstr(tinv_last_error(), "shape") != NULL);
    name = "cond_stage_model.transformer.text_model.encoder.layers.1.mlp.fc2.weight";
    CHECK(write_variant(path, V_RESHAPE, name));
    CHECK(fails_cleanly(path, NULL, TINV_ERR_BAD_FORMAT, name, 1));
}

static void test_nan(void)
{
    const char *name = "model.diffusion_model.out.2.bias", *path = check_tmp_path(tmpdir, "nan.safetensors");
    CHECK(write_variant(path, V_NAN, name));
    CHECK(fails_cleanly(path, fixture_dir, TINV_ERR_NUMERIC, name, 1));
}

static void test_not_a_checkpoint(void)
{
    const char *path = check_tmp_path(tmpdir, "no_unet.safetensors");
    CHECK(write_variant(path, V_DROP_PREFIX, "model.diffusion_model."));
    CHECK(fails_cleanly(path, NULL, TINV_ERR_BAD_FORMAT, "model.diffusion_model.input_blocks.0.0.weight", 1));
    CHECK(write_variant(path, V_DROP_PREFIX, "cond_stage_model."));
    CHECK(fails_cleanly(path, NULL, TINV_ERR_BAD_FORMAT, "no text encoder", 1));
    CHECK(fails_cleanly(check_tmp_path(tmpdir, "absent.safetensors"), NULL, TINV_ERR_IO, "absent.safetensors", 0));
    CHECK(fails_cleanly(single_path, tmpdir, TINV_ERR_IO, "text_encoder/config.json", 0));
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const char *fx = check_fixtures_dir();
    if (fx != NULL) {
        snprintf(fixture_dir, sizeof fixture_dir, "%s/sd1-tiny", fx);
        snprintf(single_path, sizeof single_path, "%s/single_file/sd1-tiny.safetensors", fixture_dir);
    }
    if (fx == NULL || access(single_path, R_OK) != 0) {
        if (check_ci()) {
            fprintf(stderr, "sd1-tiny single-file fixture missing under CI=true\n");
            check_fail(__FILE__, __LINE__, "fixtures present");
        } else {
            check_skip("test_single_file", "sd1-tiny fixtures not found (set TINV_FIXTURES)");
        }
    } else {
        RUN(test_fixture_with_config);
        RUN(test_rules_match_key_map);
        RUN(test_infer_fixture);
        RUN(test_fixture_inferred);
        RUN(test_sd2_layout);
        RUN(test_old_clip_layout);
        RUN(test_missing_tensor);
        RUN(test_wrong_shape);
        RUN(test_nan);
        RUN(test_not_a_checkpoint);
    }
    static const char *const names[] = {"sd2.safetensors", "old_clip.safetensors", "missing.safetensors",
                                        "shape.safetensors", "nan.safetensors", "no_unet.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(check_tmp_path(tmpdir, names[i]));
    rmdir(tmpdir);
    return check_summary("single_file");
}
