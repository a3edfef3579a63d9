/*
 * toy_world.h — a small procedural world of captioned pictures in which textual inversion can
 * be run end to end and measured (issue 9): one shape (circle, square, triangle, ring, cross) in
 * one of six colours, small or large, somewhere on a plain, gradient or striped background whose
 * colour differs from the shape's. Every picture comes from a seeded scene, so the generator knows
 * its ground truth; the caption names it ("a small red circle on a striped blue background").
 *
 * The checker (ti_toy_classify) is analytic, with no training: it models the background from the
 * picture's border (shapes never touch it), estimates each pixel's shape coverage, takes the
 * colour as the nearest palette colour of the covered pixels and the shape from a few geometric
 * features of the coverage mask (hole in the centre, top/bottom balance, bounding-box fill).
 * Faint coverage is dropped and strong coverage saturated before measuring, so the soft edges and
 * halos of VAE-decoded pictures do not turn circles into squares (calibrated on VAE round trips
 * of generated pictures; clean and blurred+noisy generator pictures stay at 99.7-100 %).
 *
 * Everything here is plain C11 and deterministic across platforms: the PRNG is a self-contained
 * splitmix64 and the renderer uses only float arithmetic with fixed 4x4 supersampling.
 */
#ifndef TI_TOY_WORLD_H
#define TI_TOY_WORLD_H

#include <stddef.h>
#include <stdint.h>

enum { TI_TOY_CIRCLE, TI_TOY_SQUARE, TI_TOY_TRIANGLE, TI_TOY_RING, TI_TOY_CROSS, TI_TOY_N_SHAPES };
enum { TI_TOY_RED, TI_TOY_GREEN, TI_TOY_BLUE, TI_TOY_YELLOW, TI_TOY_PURPLE, TI_TOY_ORANGE,
       TI_TOY_N_COLOURS };
enum { TI_TOY_SMALL, TI_TOY_LARGE, TI_TOY_N_SIZES };
enum { TI_TOY_PLAIN, TI_TOY_GRADIENT, TI_TOY_STRIPED, TI_TOY_N_BACKGROUNDS };
/* Background colours: three neutrals, then the six shape colours in TI_TOY_RED.. order
 * (background colour TI_TOY_BG_COLOUR(c) is drawn as a pale tint of shape colour c). */
enum { TI_TOY_BG_WHITE, TI_TOY_BG_GRAY, TI_TOY_BG_BLACK, TI_TOY_N_BG_COLOURS = 3 + TI_TOY_N_COLOURS };
#define TI_TOY_BG_COLOUR(c) (3 + (c))

/* Smallest and largest picture side the generator and checker accept. */
#define TI_TOY_MIN_SIDE 16
#define TI_TOY_MAX_SIDE 1024

typedef struct ti_toy_scene {
    int shape, colour, size, background, background_colour;
    int cx, cy, radius;       /* centre and radius in pixels; the shape lies inside the circle */
    int bg_vertical;          /* gradient/stripes run along y (1) or x (0) */
    int bg_period;            /* stripe width in pixels (striped backgrounds; 0 otherwise) */
} ti_toy_scene;

/* Constraints on ti_toy_random_scene. A field left at -1 is drawn at random. */
typedef struct ti_toy_options {
    int exclude_shape;        /* never draw this shape (a held-out concept); -1: none */
    int exclude_colour;       /* never draw this colour, as shape or background tint; -1: none */
    int force_shape, force_colour, force_size, force_background, force_background_colour;
} ti_toy_options;

/* All fields -1: anything goes. */
void ti_toy_options_default(ti_toy_options *opts);

/* The PRNG: splitmix64. Seed a state with any value (0 included); every call advances it. */
uint64_t ti_toy_rng_next(uint64_t *state);
/* Uniform in [0, n) for 1 <= n <= 2^32. */
uint32_t ti_toy_rng_below(uint64_t *state, uint32_t n);

/* Draw a scene for a side x side picture (TI_TOY_MIN_SIDE..TI_TOY_MAX_SIDE). `opts` may be NULL.
 * A forced shape (colour) wins over exclude_shape (exclude_colour); a forced background colour equal to the (forced or
 * drawn) shape colour is ignored and drawn instead, so the shape always stands out. Out-of-range
 * forced values are treated as -1. */
void ti_toy_random_scene(uint64_t *rng_state, int side, const ti_toy_options *opts, ti_toy_scene *out);

/* Render `s` into rgb (side*side*3 bytes, row-major RGB8) with 4x4 supersampling. */
void ti_toy_render(const ti_toy_scene *s, int side, uint8_t *rgb);

/* "a small red circle on a striped blue background" (lower case ASCII). Returns what snprintf
 * returns: the full length, >= cap when truncated, negative on bad arguments. */
int ti_toy_caption(const ti_toy_scene *s, char *buf, size_t cap);
/* Which parts a caption says. Without TI_TOY_SAY_SHAPE the shape is called "shape" (the class
 * word, as "a photo of a dog" is to one particular dog). */
enum { TI_TOY_SAY_SIZE = 1, TI_TOY_SAY_COLOUR = 2, TI_TOY_SAY_BG_KIND = 4, TI_TOY_SAY_BG_COLOUR = 8,
       TI_TOY_SAY_SHAPE = 16, TI_TOY_SAY_ALL = 31 };
/* A caption with only the parts in `say`: "a red circle", "a circle on a striped background".
 * Returns like ti_toy_caption. */
int ti_toy_caption_parts(const ti_toy_scene *s, unsigned say, char *buf, size_t cap);
/* Parse a caption in ti_toy_caption's form back into the attribute fields of `out` (shape,
 * colour, size, background, background_colour; position fields are set to 0). Returns 1 when
 * it parsed, 0 otherwise. */
int ti_toy_parse_caption(const char *caption, ti_toy_scene *out);

/* Names (NULL when out of range). */
const char *ti_toy_shape_name(int shape);
const char *ti_toy_colour_name(int colour);
const char *ti_toy_size_name(int size);
const char *ti_toy_background_name(int background);
const char *ti_toy_bg_colour_name(int bg_colour);

/* The shape colours' RGB (the checker's palette); NULL when out of range. */
const uint8_t *ti_toy_palette(int colour);

/* The checker: which shape and colour does rgb (side x side RGB8) show? Returns 1 and sets
 * *shape / *colour (either pointer may be NULL) when a shape is found, 0 when nothing stands out
 * from the background (or the arguments are bad). Works on any picture, not only rendered ones,
 * but assumes the background reaches the 1-pixel border all round. */
int ti_toy_classify(const uint8_t *rgb, int side, int *shape, int *colour);

#endif
