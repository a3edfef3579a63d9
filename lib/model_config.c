/* Parsing of text_encoder/, unet/ and vae/ config.json with jansson. */
#include "model_config.h"

#include <jansson.h>
#include <string.h>

#include "error.h"

static tinv_status open_json(const char *path, json_t **out)
{
    json_error_t err;
    *out = json_load_file(path, 0, &err);
    if (*out == NULL)
        return ti_error(strstr(err.text, "unable to open") ? TINV_ERR_IO : TINV_ERR_BAD_FORMAT,
                        "%s:%d: %s", path, err.line, err.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: not a JSON object", path);
    }
    return TINV_OK;
}

/* Integer key with a default when absent/null; a present key of the wrong type is an error. */
static tinv_status get_int(json_t *root, const char *path, const char *key, int dflt, int min, int *out)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v)) {
        if (dflt < min)
            return ti_error(TINV_ERR_BAD_FORMAT, "%s: missing required key '%s'", path, key);
        *out = dflt;
        return TINV_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 1000000)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: '%s' must be an integer >= %d", path, key, min);
    *out = (int)json_integer_value(v);
    return TINV_OK;
}

static tinv_status get_real(json_t *root, const char *path, const char *key, double dflt, double *out)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return TINV_OK;
    }
    if (!json_is_number(v))
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: '%s' must be a number", path, key);
    *out = json_number_value(v);
    return TINV_OK;
}

static int get_bool(json_t *root, const char *key, int dflt)
{
    json_t *v = json_object_get(root, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* An int list of `n` entries, or one int broadcast to all `n`. */
static tinv_status get_int_list(json_t *root, const char *path, const char *key, int n, int *out)
{
    json_t *v = json_object_get(root, key);
    if (json_is_integer(v)) {
        for (int i = 0; i < n; i++)
            out[i] = (int)json_integer_value(v);
        return TINV_OK;
    }
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: '%s' must be an integer or a list of %d integers", path,
                        key, n);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < 1)
            return ti_error(TINV_ERR_BAD_FORMAT, "%s: '%s'[%d] must be a positive integer", path, key, i);
        out[i] = (int)json_integer_value(e);
    }
    return TINV_OK;
}

/* A list of block type names; each must be one of the two accepted names. */
static tinv_status get_block_types(json_t *root, const char *path, const char *key, const char *with_attn,
                                   const char *plain, int *n, int *is_attn)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > TI_MAX_BLOCKS)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: '%s' must be a list of 1..%d block types", path, key,
                        TI_MAX_BLOCKS);
    *n = (int)json_array_size(v);
    for (int i = 0; i < *n; i++) {
        const char *name = json_string_value(json_array_get(v, i));
        if (name != NULL && with_attn != NULL && strcmp(name, with_attn) == 0)
            is_attn[i] = 1;
        else if (name != NULL && strcmp(name, plain) == 0)
            is_attn[i] = 0;
        else
            return ti_error(TINV_ERR_UNSUPPORTED, "%s: unknown block type '%s' in '%s' (supported: %s%s%s)", path,
                            name ? name : "(not a string)", key, plain, with_attn ? ", " : "",
                            with_attn ? with_attn : "");
    }
    return TINV_OK;
}

tinv_status ti_clip_config_load(const char *path, ti_clip_config *c)
{
    json_t *root;
    TI_TRY(open_json(path, &root));
    memset(c, 0, sizeof *c);
    tinv_status st = TINV_OK;
    if (st == TINV_OK) st = get_int(root, path, "vocab_size", 49408, 1, &c->vocab_size);
    if (st == TINV_OK) st = get_int(root, path, "hidden_size", -1, 1, &c->hidden_size);
    if (st == TINV_OK) st = get_int(root, path, "intermediate_size", -1, 1, &c->intermediate_size);
    if (st == TINV_OK) st = get_int(root, path, "num_hidden_layers", -1, 1, &c->num_layers);
    if (st == TINV_OK) st = get_int(root, path, "num_attention_heads", -1, 1, &c->num_heads);
    if (st == TINV_OK) st = get_int(root, path, "max_position_embeddings", 77, 1, &c->max_positions);
    if (st == TINV_OK) st = get_real(root, path, "layer_norm_eps", 1e-5, &c->layer_norm_eps);
    if (st == TINV_OK) {
        const char *act = json_string_value(json_object_get(root, "hidden_act"));
        if (act == NULL || strcmp(act, "quick_gelu") == 0)
            c->quick_gelu = 1;
        else if (strcmp(act, "gelu") == 0)
            c->quick_gelu = 0;
        else
            st = ti_error(TINV_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (quick_gelu, gelu)", path, act);
    }
    if (st == TINV_OK && c->hidden_size % c->num_heads != 0)
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: hidden_size %d is not divisible by num_attention_heads %d", path,
                      c->hidden_size, c->num_heads);
    json_decref(root);
    return st;
}

tinv_status ti_unet_config_load(const char *path, ti_unet_config *c)
{
    json_t *root;
    TI_TRY(open_json(path, &root));
    memset(c, 0, sizeof *c);
    int n_up = 0;
    tinv_status st = get_block_types(root, path, "down_block_types", "CrossAttnDownBlock2D", "DownBlock2D",
                                     &c->num_blocks, c->down_cross);
    if (st == TINV_OK)
        st = get_block_types(root, path, "up_block_types", "CrossAttnUpBlock2D", "UpBlock2D", &n_up, c->up_cross);
    if (st == TINV_OK && n_up != c->num_blocks)
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: %d down blocks but %d up blocks", path, c->num_blocks, n_up);
    if (st == TINV_OK) {
        const char *mid = json_string_value(json_object_get(root, "mid_block_type"));
        if (mid != NULL && strcmp(mid, "UNetMidBlock2DCrossAttn") != 0)
            st = ti_error(TINV_ERR_UNSUPPORTED, "%s: unknown mid_block_type '%s'", path, mid);
    }
    if (st == TINV_OK) st = get_int_list(root, path, "block_out_channels", c->num_blocks, c->block_out);
    /* diffusers: num_attention_heads, falling back to attention_head_dim (a head count). */
    if (st == TINV_OK) {
        json_t *nh = json_object_get(root, "num_attention_heads");
        st = get_int_list(root, path, (nh && !json_is_null(nh)) ? "num_attention_heads" : "attention_head_dim",
                          c->num_blocks, c->heads);
    }
    if (st == TINV_OK) st = get_int(root, path, "in_channels", 4, 1, &c->in_channels);
    if (st == TINV_OK) st = get_int(root, path, "out_channels", 4, 1, &c->out_channels);
    if (st == TINV_OK) st = get_int(root, path, "layers_per_block", 2, 1, &c->layers_per_block);
    if (st == TINV_OK) st = get_int(root, path, "cross_attention_dim", -1, 1, &c->cross_attention_dim);
    if (st == TINV_OK) st = get_int(root, path, "norm_num_groups", 32, 1, &c->norm_groups);
    if (st == TINV_OK) st = get_int(root, path, "transformer_layers_per_block", 1, 1, &c->transformer_layers);
    if (st == TINV_OK) st = get_real(root, path, "norm_eps", 1e-5, &c->norm_eps);
    if (st == TINV_OK) st = get_real(root, path, "freq_shift", 0, &c->freq_shift);
    c->linear_projection = get_bool(root, "use_linear_projection", 0);
    c->flip_sin_to_cos = get_bool(root, "flip_sin_to_cos", 1);
    if (st == TINV_OK) {
        const char *tt = json_string_value(json_object_get(root, "time_embedding_type"));
        json_t *cls = json_object_get(root, "class_embed_type"), *add = json_object_get(root, "addition_embed_type");
        if (tt != NULL && strcmp(tt, "positional") != 0)
            st = ti_error(TINV_ERR_UNSUPPORTED, "%s: time_embedding_type '%s' is not supported", path, tt);
        else if ((cls && !json_is_null(cls)) || (add && !json_is_null(add)))
            st = ti_error(TINV_ERR_UNSUPPORTED, "%s: class/addition embeddings (SDXL-style) are not supported", path);
    }
    if (st == TINV_OK && 1 + c->num_blocks * (c->layers_per_block + 1) > 64)
        st = ti_error(TINV_ERR_UNSUPPORTED, "%s: %d blocks of %d layers need more than 64 skip connections", path,
                      c->num_blocks, c->layers_per_block);
    for (int i = 0; st == TINV_OK && i < c->num_blocks; i++)
        if (c->block_out[i] % c->norm_groups != 0 || c->block_out[i] % c->heads[i] != 0)
            st = ti_error(TINV_ERR_BAD_FORMAT, "%s: block %d has %d channels, not divisible by %d groups and %d heads",
                          path, i, c->block_out[i], c->norm_groups, c->heads[i]);
    json_decref(root);
    return st;
}

tinv_status ti_vae_config_load(const char *path, ti_vae_config *c)
{
    json_t *root;
    TI_TRY(open_json(path, &root));
    memset(c, 0, sizeof *c);
    int down_attn[TI_MAX_BLOCKS], up_attn[TI_MAX_BLOCKS], n_up = 0;
    tinv_status st = get_block_types(root, path, "down_block_types", NULL, "DownEncoderBlock2D", &c->num_blocks,
                                     down_attn);
    if (st == TINV_OK)
        st = get_block_types(root, path, "up_block_types", NULL, "UpDecoderBlock2D", &n_up, up_attn);
    if (st == TINV_OK && n_up != c->num_blocks)
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: %d down blocks but %d up blocks", path, c->num_blocks, n_up);
    if (st == TINV_OK) st = get_int_list(root, path, "block_out_channels", c->num_blocks, c->block_out);
    if (st == TINV_OK) st = get_int(root, path, "in_channels", 3, 1, &c->in_channels);
    if (st == TINV_OK) st = get_int(root, path, "out_channels", 3, 1, &c->out_channels);
    if (st == TINV_OK) st = get_int(root, path, "latent_channels", 4, 1, &c->latent_channels);
    if (st == TINV_OK) st = get_int(root, path, "layers_per_block", 1, 1, &c->layers_per_block);
    if (st == TINV_OK) st = get_int(root, path, "norm_num_groups", 32, 1, &c->norm_groups);
    if (st == TINV_OK) st = get_real(root, path, "scaling_factor", 0.18215, &c->scaling_factor);
    json_decref(root);
    return st;
}
