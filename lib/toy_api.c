/* The toy world's public face (tinv_toy_draw, tinv_toy_classify) over toy_world.c. */
#include <string.h>

#include "error.h"
#include "tinv.h"
#include "toy_world.h"

/* Index of `name` among the n names of `name_of`, -1 for NULL, -2 when unknown. */
static int find_name(const char *name, const char *(*name_of)(int), int n)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(name, name_of(i)) == 0)
            return i;
    return -2;
}

TINV_API tinv_status tinv_toy_draw(uint64_t seed, int side, const char *shape, const char *colour, uint8_t *rgb,
                                   char *caption, size_t caption_cap)
{
    TI_REQUIRE(rgb);
    if (side < TI_TOY_MIN_SIDE || side > TI_TOY_MAX_SIDE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy world: side %d is not in [%d, %d]", side, TI_TOY_MIN_SIDE,
                        TI_TOY_MAX_SIDE);
    if (caption == NULL && caption_cap > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy world: caption buffer is NULL");
    ti_toy_options o;
    ti_toy_options_default(&o);
    o.force_shape = find_name(shape, ti_toy_shape_name, TI_TOY_N_SHAPES);
    o.force_colour = find_name(colour, ti_toy_colour_name, TI_TOY_N_COLOURS);
    if (o.force_shape == -2)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy world: unknown shape '%.64s' (circle, square, triangle, ring, cross)",
                        shape);
    if (o.force_colour == -2)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "toy world: unknown colour '%.64s' (red, green, blue, yellow, purple, orange)", colour);
    ti_toy_scene s;
    uint64_t rng = seed;
    ti_toy_random_scene(&rng, side, &o, &s);
    if (caption != NULL && (size_t)ti_toy_caption(&s, caption, caption_cap) >= caption_cap)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy world: caption buffer of %zu bytes is too small", caption_cap);
    ti_toy_render(&s, side, rgb);
    return TINV_OK;
}

TINV_API tinv_status tinv_toy_classify(const uint8_t *rgb, int side, const char **shape, const char **colour)
{
    TI_REQUIRE(rgb);
    if (side < TI_TOY_MIN_SIDE || side > TI_TOY_MAX_SIDE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy world: side %d is not in [%d, %d]", side, TI_TOY_MIN_SIDE,
                        TI_TOY_MAX_SIDE);
    int s = -1, c = -1;
    int found = ti_toy_classify(rgb, side, &s, &c);
    if (shape)
        *shape = found ? ti_toy_shape_name(s) : NULL;
    if (colour)
        *colour = found ? ti_toy_colour_name(c) : NULL;
    return TINV_OK;
}
