/* Tests of the toy world (lib/toy_world.c): seeded scenes are deterministic, the held-out shape
 * never appears, forced attributes hold, captions parse back, shapes keep off the border, and
 * the analytic checker's accuracy on fresh random scenes (printed, with a shape confusion matrix)
 * clears its bars. Eight sample pictures go to a temporary folder that is removed at the end,
 * or to $TINV_TOY_SAMPLES when set (kept there, for looking at). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
#include "tinv.h"
#include "toy_world.h"

static char tmpdir[] = "/tmp/tinv_toy_XXXXXX";

static int same_scene(const ti_toy_scene *a, const ti_toy_scene *b)
{
    return a->shape == b->shape && a->colour == b->colour && a->size == b->size &&
           a->background == b->background && a->background_colour == b->background_colour &&
           a->cx == b->cx && a->cy == b->cy && a->radius == b->radius &&
           a->bg_vertical == b->bg_vertical && a->bg_period == b->bg_period;
}

static void test_rng(void)
{
    uint64_t a = 42, b = 42, c = 43;
    uint64_t va = ti_toy_rng_next(&a);
    CHECK(va == ti_toy_rng_next(&b));
    CHECK(va != ti_toy_rng_next(&c));
    /* splitmix64 from state 0: first output is the published reference value. */
    uint64_t z = 0;
    CHECK(ti_toy_rng_next(&z) == 0xE220A8397B1DCDAFull);
    int hist[5] = {0};
    for (int i = 0; i < 5000; i++) {
        uint32_t v = ti_toy_rng_below(&a, 5);
        CHECK(v < 5);
        hist[v]++;
    }
    for (int i = 0; i < 5; i++) CHECK(hist[i] > 850 && hist[i] < 1150);
}

static void test_determinism(void)
{
    const int side = 64;
    uint8_t *p1 = malloc((size_t)side * side * 3), *p2 = malloc((size_t)side * side * 3);
    CHECK(p1 && p2);
    int differ = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        uint64_t s1 = seed * 7919 + 1, s2 = s1;
        ti_toy_scene a, b;
        ti_toy_random_scene(&s1, side, NULL, &a);
        ti_toy_random_scene(&s2, side, NULL, &b);
        CHECK(same_scene(&a, &b) && s1 == s2);
        ti_toy_render(&a, side, p1);
        ti_toy_render(&b, side, p2);
        CHECK(memcmp(p1, p2, (size_t)side * side * 3) == 0);
        char c1[128], c2[128];
        CHECK(ti_toy_caption(&a, c1, sizeof c1) > 0 && ti_toy_caption(&b, c2, sizeof c2) > 0);
        CHECK(strcmp(c1, c2) == 0);
        /* The next scene from the same stream is (almost always) a different picture. */
        ti_toy_scene n;
        ti_toy_random_scene(&s1, side, NULL, &n);
        ti_toy_render(&n, side, p2);
        differ += memcmp(p1, p2, (size_t)side * side * 3) != 0;
    }
    CHECK(differ >= 19);
    free(p1);
    free(p2);
}

static void test_held_out_and_forced(void)
{
    ti_toy_options o;
    ti_toy_options_default(&o);
    o.exclude_shape = TI_TOY_RING;
    uint64_t rng = 123;
    int seen_shape[TI_TOY_N_SHAPES] = {0}, seen_bg[TI_TOY_N_BG_COLOURS] = {0};
    int seen_kind[TI_TOY_N_BACKGROUNDS] = {0}, seen_size[TI_TOY_N_SIZES] = {0};
    for (int i = 0; i < 3000; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, 64, &o, &s);
        CHECK(s.shape != TI_TOY_RING);
        CHECK(s.background_colour != TI_TOY_BG_COLOUR(s.colour));
        seen_shape[s.shape]++;
        seen_bg[s.background_colour]++;
        seen_kind[s.background]++;
        seen_size[s.size]++;
    }
    for (int i = 0; i < TI_TOY_N_SHAPES; i++) CHECK(i == TI_TOY_RING ? seen_shape[i] == 0 : seen_shape[i] > 500);
    for (int i = 0; i < TI_TOY_N_BG_COLOURS; i++) CHECK(seen_bg[i] > 100);
    for (int i = 0; i < TI_TOY_N_BACKGROUNDS; i++) CHECK(seen_kind[i] > 700);
    for (int i = 0; i < TI_TOY_N_SIZES; i++) CHECK(seen_size[i] > 1200);

    /* Forced attributes hold; a forced shape wins over the exclusion. */
    o.force_shape = TI_TOY_RING;
    o.force_colour = TI_TOY_YELLOW;
    o.force_size = TI_TOY_SMALL;
    o.force_background = TI_TOY_STRIPED;
    o.force_background_colour = TI_TOY_BG_COLOUR(TI_TOY_GREEN);
    for (int i = 0; i < 50; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, 32, &o, &s);
        CHECK(s.shape == TI_TOY_RING && s.colour == TI_TOY_YELLOW && s.size == TI_TOY_SMALL);
        CHECK(s.background == TI_TOY_STRIPED && s.background_colour == TI_TOY_BG_COLOUR(TI_TOY_GREEN));
        CHECK(s.bg_period >= 2);
    }
    /* A forced background colour equal to the shape's own is ignored. */
    o.force_background_colour = TI_TOY_BG_COLOUR(TI_TOY_YELLOW);
    for (int i = 0; i < 50; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, 32, &o, &s);
        CHECK(s.background_colour != TI_TOY_BG_COLOUR(TI_TOY_YELLOW));
    }
    /* Forcing one attribute leaves the other draws of the same seed unchanged. */
    ti_toy_options_default(&o);
    uint64_t r1 = 99, r2 = 99;
    ti_toy_scene a, b;
    ti_toy_random_scene(&r1, 64, NULL, &a);
    o.force_colour = (a.colour + 1) % TI_TOY_N_COLOURS;
    ti_toy_random_scene(&r2, 64, &o, &b);
    CHECK(a.shape == b.shape && a.size == b.size && a.cx == b.cx && a.cy == b.cy && a.radius == b.radius);
}

static void test_captions(void)
{
    ti_toy_scene s = {TI_TOY_CIRCLE, TI_TOY_RED, TI_TOY_SMALL, TI_TOY_STRIPED, TI_TOY_BG_COLOUR(TI_TOY_BLUE),
                      32, 32, 8, 0, 4};
    char buf[128];
    CHECK(ti_toy_caption(&s, buf, sizeof buf) == (int)strlen("a small red circle on a striped blue background"));
    CHECK(strcmp(buf, "a small red circle on a striped blue background") == 0);
    s.background = TI_TOY_PLAIN;
    s.background_colour = TI_TOY_BG_WHITE;
    s.size = TI_TOY_LARGE;
    s.shape = TI_TOY_CROSS;
    s.colour = TI_TOY_PURPLE;
    CHECK(ti_toy_caption(&s, buf, sizeof buf) > 0);
    CHECK(strcmp(buf, "a large purple cross on a plain white background") == 0);
    /* Truncation reports the full length, like snprintf. */
    char small[8];
    CHECK(ti_toy_caption(&s, small, sizeof small) == (int)strlen(buf) && strlen(small) == 7);
    s.shape = 99;
    CHECK(ti_toy_caption(&s, buf, sizeof buf) < 0);

    /* Round trip on random scenes. */
    uint64_t rng = 5;
    for (int i = 0; i < 500; i++) {
        ti_toy_scene r, p;
        ti_toy_random_scene(&rng, 64, NULL, &r);
        CHECK(ti_toy_caption(&r, buf, sizeof buf) > 0);
        CHECK(ti_toy_parse_caption(buf, &p) == 1);
        CHECK(p.shape == r.shape && p.colour == r.colour && p.size == r.size && p.background == r.background &&
              p.background_colour == r.background_colour);
    }
    ti_toy_scene p;
    CHECK(ti_toy_parse_caption("a gradient gray background", &p) == 0);
    CHECK(ti_toy_parse_caption("a small red hexagon on a plain white background", &p) == 0);
    CHECK(ti_toy_parse_caption("a small red circle on a plain white backdrop", &p) == 0);
    CHECK(ti_toy_parse_caption("a small red circle on a plain white background now", &p) == 0);
    CHECK(ti_toy_parse_caption("", &p) == 0);
    CHECK(ti_toy_parse_caption(NULL, &p) == 0);
    CHECK(ti_toy_parse_caption("  a large green ring  on a gradient black background ", &p) == 1);
    CHECK(p.shape == TI_TOY_RING && p.colour == TI_TOY_GREEN && p.background_colour == TI_TOY_BG_BLACK);
}

/* The border stays pure background: shapes never reach it. */
static void test_shape_off_border(void)
{
    for (int side = 16; side <= 64; side += 16) {
        uint64_t rng = (uint64_t)side;
        for (int i = 0; i < 200; i++) {
            ti_toy_scene s;
            ti_toy_random_scene(&rng, side, NULL, &s);
            CHECK(s.cx - s.radius >= 2 && s.cy - s.radius >= 2);
            CHECK(s.cx + s.radius <= side - 2 && s.cy + s.radius <= side - 2);
        }
    }
}

static void test_classify_nothing(void)
{
    const int side = 32;
    uint8_t img[32 * 32 * 3];
    memset(img, 200, sizeof img);
    int sh = -1, co = -1;
    CHECK(ti_toy_classify(img, side, &sh, &co) == 0 && sh == -1 && co == -1);
    CHECK(ti_toy_classify(NULL, side, &sh, &co) == 0);
    CHECK(ti_toy_classify(img, 8, &sh, &co) == 0);
    /* A single stray pixel is not a shape. */
    img[(16 * side + 16) * 3] = 0;
    CHECK(ti_toy_classify(img, side, &sh, &co) == 0);
}

/* Degrade a picture the way a small generative model's output might look: blend half of a 3x3
 * box blur in, then add uniform noise of +-amp per channel. */
static void perturb(uint8_t *img, int side, uint64_t *rng, int amp)
{
    size_t n = (size_t)side * side * 3;
    uint8_t *src = malloc(n);
    if (src == NULL) return;
    memcpy(src, img, n);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            for (int c = 0; c < 3; c++) {
                int sum = 0, cnt = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx, yy = y + dy;
                        if (xx < 0 || yy < 0 || xx >= side || yy >= side) continue;
                        sum += src[((size_t)yy * side + xx) * 3 + c];
                        cnt++;
                    }
                int v = (src[((size_t)y * side + x) * 3 + c] + sum / cnt + 1) / 2;
                v += (int)ti_toy_rng_below(rng, (uint32_t)(2 * amp + 1)) - amp;
                img[((size_t)y * side + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    free(src);
}

/* Accuracy of the checker on n fresh scenes (degraded by perturb when noise > 0); fills the
 * fractions and prints a confusion matrix. */
static void accuracy(int side, int n, uint64_t seed, int noise, double *shape_acc, double *colour_acc,
                     double *both_acc)
{
    uint8_t *img = malloc((size_t)side * side * 3);
    int conf[TI_TOY_N_SHAPES][TI_TOY_N_SHAPES + 1];
    memset(conf, 0, sizeof conf);
    int ok_shape = 0, ok_colour = 0, ok_both = 0;
    uint64_t rng = seed;
    for (int i = 0; img && i < n; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, side, NULL, &s);
        ti_toy_render(&s, side, img);
        if (noise > 0) perturb(img, side, &rng, noise);
        int sh = -1, co = -1;
        int found = ti_toy_classify(img, side, &sh, &co);
        conf[s.shape][found ? sh : TI_TOY_N_SHAPES]++;
        ok_shape += found && sh == s.shape;
        ok_colour += found && co == s.colour;
        ok_both += found && sh == s.shape && co == s.colour;
    }
    free(img);
    *shape_acc = (double)ok_shape / n;
    *colour_acc = (double)ok_colour / n;
    *both_acc = (double)ok_both / n;
    printf("    side %d, %d scenes%s: shape %.3f, colour %.3f, both %.3f\n", side, n,
           noise > 0 ? ", blurred + noisy" : "", *shape_acc, *colour_acc, *both_acc);
    printf("    %-9s", "true\\got");
    for (int j = 0; j < TI_TOY_N_SHAPES; j++) printf(" %8s", ti_toy_shape_name(j));
    printf(" %8s\n", "none");
    for (int i = 0; i < TI_TOY_N_SHAPES; i++) {
        printf("    %-9s", ti_toy_shape_name(i));
        for (int j = 0; j <= TI_TOY_N_SHAPES; j++) printf(" %8d", conf[i][j]);
        printf("\n");
    }
}

static void test_checker_accuracy_64(void)
{
    double s, c, b;
    accuracy(64, 600, 0x5EED64, 0, &s, &c, &b);
    CHECK(s >= 0.98);  /* measured 1.000 / 1.000 */
    CHECK(c >= 0.98);
}

static void test_checker_accuracy_32(void)
{
    double s, c, b;
    accuracy(32, 300, 0x5EED32, 0, &s, &c, &b);
    CHECK(s >= 0.95);  /* measured 1.000 / 1.000 */
    CHECK(c >= 0.98);
}

/* The checker will judge a model's pictures, which are never clean: measure it on degraded ones. */
static void test_checker_accuracy_noisy(void)
{
    double s, c, b;
    accuracy(64, 300, 0x5EED65, 12, &s, &c, &b);
    CHECK(s >= 0.95);  /* measured 1.000 / 1.000 */
    CHECK(c >= 0.95);
    accuracy(32, 300, 0x5EED33, 12, &s, &c, &b);
    CHECK(s >= 0.90);  /* measured 0.987 / 1.000 */
    CHECK(c >= 0.95);
}

static void test_samples(void)
{
    const char *dir = getenv("TINV_TOY_SAMPLES");
    if (dir == NULL || *dir == '\0') dir = tmpdir;
    else mkdir(dir, 0777);
    const int side = 64;
    uint64_t rng = 2024;
    for (int i = 0; i < 8; i++) {
        ti_toy_scene s;
        ti_toy_options o;
        ti_toy_options_default(&o);
        o.force_shape = i % TI_TOY_N_SHAPES;
        ti_toy_random_scene(&rng, side, &o, &s);
        ti_image img = {side, side, 3, malloc((size_t)side * side * 3)};
        CHECK(img.pixels != NULL);
        ti_toy_render(&s, side, img.pixels);
        char caption[128], name[32];
        CHECK(ti_toy_caption(&s, caption, sizeof caption) > 0);
        snprintf(name, sizeof name, "toy_%d.png", i);
        const char *kv[2] = {"caption", caption};
        tinv_status st = ti_png_write(check_tmp_path(dir, name), &img, kv, 1);
        free(img.pixels);
        CHECK(st == TINV_OK);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path);
}

/* A held-out colour is never drawn, neither as a shape nor as a background tint, and without
 * exclusions the stream gives the same scenes as before the option existed (same picks). */
static void test_held_out_colour(void)
{
    ti_toy_options o;
    ti_toy_options_default(&o);
    o.exclude_colour = TI_TOY_PURPLE;
    uint64_t rng = 5;
    int seen[TI_TOY_N_COLOURS] = {0};
    for (int i = 0; i < 3000; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, 32, &o, &s);
        CHECK(s.colour != TI_TOY_PURPLE);
        CHECK(s.background_colour != TI_TOY_BG_COLOUR(TI_TOY_PURPLE));
        CHECK(s.background_colour != TI_TOY_BG_COLOUR(s.colour));
        seen[s.colour]++;
    }
    for (int c = 0; c < TI_TOY_N_COLOURS; c++)
        CHECK(c == TI_TOY_PURPLE || seen[c] > 400);
    /* forcing wins over exclusion */
    o.force_colour = TI_TOY_PURPLE;
    ti_toy_scene s;
    ti_toy_random_scene(&rng, 32, &o, &s);
    CHECK(s.colour == TI_TOY_PURPLE);
}

static void test_caption_parts(void)
{
    ti_toy_scene s = {0};
    s.shape = TI_TOY_CROSS;
    s.colour = TI_TOY_RED;
    s.size = TI_TOY_LARGE;
    s.background = TI_TOY_STRIPED;
    s.background_colour = TI_TOY_BG_WHITE;
    char buf[200];
    const unsigned SHAPE = TI_TOY_SAY_SHAPE;
    CHECK(ti_toy_caption_parts(&s, SHAPE, buf, sizeof buf) > 0 && strcmp(buf, "a cross") == 0);
    CHECK(ti_toy_caption_parts(&s, SHAPE | TI_TOY_SAY_COLOUR, buf, sizeof buf) > 0 && strcmp(buf, "a red cross") == 0);
    ti_toy_caption_parts(&s, SHAPE | TI_TOY_SAY_SIZE | TI_TOY_SAY_BG_COLOUR, buf, sizeof buf);
    CHECK(strcmp(buf, "a large cross on a white background") == 0);
    ti_toy_caption_parts(&s, SHAPE | TI_TOY_SAY_BG_KIND, buf, sizeof buf);
    CHECK(strcmp(buf, "a cross on a striped background") == 0);
    /* without the shape bit the class word stands in */
    CHECK(ti_toy_caption_parts(&s, TI_TOY_SAY_COLOUR, buf, sizeof buf) > 0 && strcmp(buf, "a red shape") == 0);
    CHECK(ti_toy_caption_parts(&s, 0, buf, sizeof buf) > 0 && strcmp(buf, "a shape") == 0);
    char full[200];
    ti_toy_caption(&s, full, sizeof full);
    ti_toy_caption_parts(&s, TI_TOY_SAY_ALL, buf, sizeof buf);
    CHECK(strcmp(buf, full) == 0 && strcmp(full, "a large red cross on a striped white background") == 0);
}

/* The public face: forced names hold, the checker reads them back, bad input is refused. */
static void test_public_api(void)
{
    uint8_t rgb[32 * 32 * 3];
    char caption[128];
    const char *shape = NULL, *colour = NULL;
    CHECK(tinv_toy_draw(3, 32, "ring", "purple", rgb, caption, sizeof caption) == TINV_OK);
    CHECK(strstr(caption, "purple ring") != NULL);
    CHECK(tinv_toy_classify(rgb, 32, &shape, &colour) == TINV_OK);
    CHECK(shape && colour && strcmp(shape, "ring") == 0 && strcmp(colour, "purple") == 0);
    CHECK(tinv_toy_draw(3, 32, NULL, NULL, rgb, NULL, 0) == TINV_OK);
    CHECK(tinv_toy_draw(3, 32, "hexagon", NULL, rgb, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "hexagon") != NULL);
    CHECK(tinv_toy_draw(3, 32, NULL, "teal", rgb, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_toy_draw(3, 8, NULL, NULL, rgb, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_toy_draw(3, 32, NULL, NULL, rgb, caption, 5) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_toy_draw(3, 32, NULL, NULL, NULL, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    memset(rgb, 200, sizeof rgb); /* a blank picture: nothing stands out */
    shape = colour = "x";
    CHECK(tinv_toy_classify(rgb, 32, &shape, &colour) == TINV_OK && shape == NULL && colour == NULL);
    CHECK(tinv_toy_classify(rgb, 2000, &shape, &colour) == TINV_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_rng);
    RUN(test_determinism);
    RUN(test_held_out_and_forced);
    RUN(test_captions);
    RUN(test_held_out_colour);
    RUN(test_caption_parts);
    RUN(test_public_api);
    RUN(test_shape_off_border);
    RUN(test_classify_nothing);
    RUN(test_checker_accuracy_64);
    RUN(test_checker_accuracy_32);
    RUN(test_checker_accuracy_noisy);
    RUN(test_samples);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_toy_world");
}
