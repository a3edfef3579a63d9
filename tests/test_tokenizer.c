/* Unit tests of the CLIP tokenizer: text clean-up, BPE, special/added tokens, padding and
 * truncation, decoding, bad input and bad files. Fixture-based tests use the real CLIP files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "check.h"
#include "text_clean.h"
#include "tinv.h"
#include "tokenizer.h"

static char sd1_dir[1024], sd2_dir[1024], gz_path[1024];
static int have_fixtures;

/* ---- text clean-up (no fixtures needed) ------------------------------------------------ */

static int clean_is(const char *in, const char *want)
{
    char *out;
    size_t n;
    if (ti_text_clean(in, strlen(in), &out, &n) != TINV_OK)
        return 0;
    int ok = strcmp(out, want) == 0;
    if (!ok)
        fprintf(stderr, "    clean(\"%s\") = \"%s\", want \"%s\"\n", in, out, want);
    free(out);
    return ok;
}

static void test_clean_whitespace_and_case(void)
{
    CHECK(clean_is("  Hello \t\n  World  ", "hello world"));
    CHECK(clean_is("", ""));
    CHECK(clean_is("a\xC2\xA0" "b\xE3\x80\x80" "c", "a b c")); /* NBSP, ideographic space */
    CHECK(clean_is("A\xE2\x80\x8B" "B", "a\xE2\x80\x8B" "b"));    /* zero-width space is not whitespace */
    /* Python's lower(): final sigma and dotted capital I */
    CHECK(clean_is("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"));
    CHECK(clean_is("\xCE\xA3\xCE\x91", "\xCF\x83\xCE\xB1"));
    CHECK(clean_is("\xC4\xB0", "i\xCC\x87"));
}

static void test_clean_ftfy_fixes(void)
{
    CHECK(clean_is("fish &amp; chips", "fish & chips"));
    CHECK(clean_is("fish &amp;amp; chips", "fish & chips"));         /* repeated until stable */
    CHECK(clean_is("&lt;b&gt; &#39;x&#x27; &NTILDE;", "<b> 'x' \xC3\xB1")); /* upper-cased name */
    CHECK(clean_is("<b>x</b> &amp;", "<b>x</b> &amp;"));             /* markup: no unescaping */
    CHECK(clean_is("&bogus; &#59;", "&bogus; &#59;"));
    CHECK(clean_is("\xE2\x80\x9C" "q\xE2\x80\x9D \xE2\x80\x98s\xE2\x80\x99", "\"q\" 's'"));
    CHECK(clean_is("\xEF\xAC\x81ne \xEF\xAC\x82y", "fine fly"));           /* ligatures */
    CHECK(clean_is("\xEF\xBC\xA6\xEF\xBC\xB5\xEF\xBC\x91", "fu1"));       /* full width */
    CHECK(clean_is("e\xCC\x81", "\xC3\xA9"));                           /* NFC */
    CHECK(clean_is("a\x07" "b\x1B" "c\x1B[31md", "abcd"));               /* controls, escapes */
    CHECK(clean_is("caf\xC3\x83\xC2\xA9", "caf\xC3\xA9"));               /* mojibake: cafÃ© */
    CHECK(clean_is("\xC2\x93q\xC2\x94", "\"q\""));                       /* C1 as Windows-1252 */
}

static void test_utf8_validation(void)
{
    size_t bad;
    CHECK(ti_utf8_valid("abc\xC3\xA9", 5, &bad));
    CHECK(!ti_utf8_valid("ab\xC3", 3, &bad) && bad == 2);
    CHECK(!ti_utf8_valid("\xC0\x80", 2, &bad) && bad == 0);       /* overlong */
    CHECK(!ti_utf8_valid("\xED\xA0\x80", 3, &bad) && bad == 0);   /* surrogate */
    CHECK(!ti_utf8_valid("\xF4\x90\x80\x80", 4, &bad));           /* past U+10FFFF */
}

static void test_byte_table(void)
{
    for (int b = 0; b < 256; b++)
        CHECK(ti_bpe_cp_to_byte(ti_bpe_byte_to_cp((uint8_t)b)) == b);
    CHECK(ti_bpe_byte_to_cp(' ') == 0x120);
    CHECK(ti_bpe_byte_to_cp('a') == 'a');
    CHECK(ti_bpe_vocab_order_cp(0) == '!');
    CHECK(ti_bpe_vocab_order_cp(255) == 0x143);
}

/* ---- bad files (synthetic) ------------------------------------------------------------- */

static char tmp_dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_bad_files(void)
{
    tinv_tokenizer *tok = (tinv_tokenizer *)1;
    CHECK(tinv_tokenizer_load("/nonexistent/dir/x", NULL, &tok) == TINV_ERR_IO && tok == NULL);
    CHECK(tinv_tokenizer_load(NULL, NULL, &tok) == TINV_ERR_INVALID_ARGUMENT);

    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tinv_tok_test_%d", (int)getpid());
    mkdir(tmp_dir, 0755);
    write_file("vocab.json", "{\"a</w>\": 0, \"b</w>\": 1,, }");
    write_file("merges.txt", "#version: 0.2\na b\n");
    CHECK(tinv_tokenizer_load(tmp_dir, NULL, &tok) == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "vocab.json:1:") != NULL);

    write_file("vocab.json", "{\"a\": 0, \"b\": 1, \"ab</w>\": 2, \"a</w>\": 3, \"b</w>\": 4, \"<|startoftext|>\": 5, "
                             "\"<|endoftext|>\": 6}");
    write_file("merges.txt", "#version: 0.2\na b</w>\nthree symbols here\n");
    CHECK(tinv_tokenizer_load(tmp_dir, NULL, &tok) == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "merges.txt:3:") != NULL);

    write_file("merges.txt", "#version: 0.2\na b</w>\n");
    CHECK(tinv_tokenizer_load(tmp_dir, NULL, &tok) == TINV_OK);
    int32_t ids[8];
    size_t n;
    CHECK(tinv_tokenizer_encode(tok, "ab a", 0, ids, 8, &n, NULL) == TINV_OK);
    CHECK(n == 4 && ids[0] == 5 && ids[1] == 2 && ids[2] == 3 && ids[3] == 6);
    CHECK(tinv_tokenizer_encode(tok, "zz", 0, ids, 8, &n, NULL) == TINV_OK); /* unknown -> unk */
    CHECK(n == 4 && ids[1] == 6 && ids[2] == 6);
    tinv_tokenizer_free(tok);

    write_file("bad.txt.gz", "\x1f\x8b\x08\x00garbage that is not deflate data at all");
    char gz[512];
    snprintf(gz, sizeof gz, "%s/bad.txt.gz", tmp_dir);
    tinv_status st = tinv_tokenizer_load(gz, NULL, &tok);
    CHECK(st == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "bad.txt.gz") != NULL);

    const char *names[] = {"vocab.json", "merges.txt", "bad.txt.gz"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, names[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* ---- with the real CLIP files ---------------------------------------------------------- */

static int skip_without_fixtures(const char *name)
{
    if (have_fixtures)
        return 0;
    if (check_ci()) {
        check_fail(__FILE__, __LINE__, "fixtures missing under CI=true");
        printf("FAIL %s\n", name);
        return 1;
    }
    check_skip(name, "fixtures not found (set TINV_FIXTURES)");
    return 1;
}

static tinv_tokenizer *load(const char *path)
{
    tinv_tokenizer *tok = NULL;
    if (tinv_tokenizer_load(path, NULL, &tok) != TINV_OK)
        fprintf(stderr, "    load %s: %s\n", path, tinv_last_error());
    return tok;
}

static void test_openai_gz_equals_hf_vocab(void)
{
    tinv_tokenizer *a = load(gz_path), *b = load(sd1_dir);
    CHECK(a != NULL && b != NULL);
    CHECK(tinv_tokenizer_vocab_size(a) == 49408 && tinv_tokenizer_vocab_size(b) == 49408);
    char ta[256], tb[256];
    for (int32_t id = 0; id < 49408; id++) {
        CHECK(tinv_tokenizer_id_to_token(a, id, ta, sizeof ta, NULL) == TINV_OK);
        CHECK(tinv_tokenizer_id_to_token(b, id, tb, sizeof tb, NULL) == TINV_OK);
        CHECK(strcmp(ta, tb) == 0);
    }
    tinv_tokenizer_free(a);
    tinv_tokenizer_free(b);
}

static void test_basic_encode(void)
{
    tinv_tokenizer *tok = load(gz_path);
    CHECK(tok != NULL);
    int32_t ids[77];
    uint8_t mask[77];
    size_t n;
    CHECK(tinv_tokenizer_encode(tok, "a photo of a cat", 0, ids, 77, &n, mask) == TINV_OK);
    CHECK(n == 7 && ids[0] == 49406 && ids[1] == 320 && ids[5] == 2368 && ids[6] == 49407);
    CHECK(tinv_tokenizer_encode(tok, "A Photo Of A CAT", 1, ids, 77, &n, mask) == TINV_OK);
    CHECK(n == 77 && ids[5] == 2368 && ids[6] == 49407 && ids[76] == 49407);
    CHECK(mask[6] == 1 && mask[7] == 0 && mask[76] == 0);
    CHECK(tinv_tokenizer_encode(tok, "", 0, ids, 77, &n, NULL) == TINV_OK);
    CHECK(n == 2 && ids[0] == 49406 && ids[1] == 49407);
    /* literal special tokens map to their ids */
    CHECK(tinv_tokenizer_encode(tok, "<|endoftext|>x", 0, ids, 77, &n, NULL) == TINV_OK);
    CHECK(n == 4 && ids[1] == 49407);
    CHECK(tinv_tokenizer_bos_id(tok) == 49406 && tinv_tokenizer_eos_id(tok) == 49407);
    CHECK(tinv_tokenizer_pad_id(tok) == 49407 && tinv_tokenizer_max_length(tok) == 77);
    int32_t id;
    CHECK(tinv_tokenizer_token_to_id(tok, "cat</w>", &id) == TINV_OK && id == 2368);
    CHECK(tinv_tokenizer_token_to_id(tok, "no such token", &id) == TINV_ERR_INVALID_ARGUMENT && id == -1);
    tinv_tokenizer_free(tok);
}

static void test_sd2_pad_token_splits(void)
{
    tinv_tokenizer *tok = load(sd2_dir);
    CHECK(tok != NULL);
    CHECK(tinv_tokenizer_pad_id(tok) == 0);
    int32_t ids[77];
    size_t n;
    CHECK(tinv_tokenizer_encode(tok, "wow!", 1, ids, 77, &n, NULL) == TINV_OK);
    CHECK(ids[2] == 0 && ids[3] == 49407 && ids[4] == 0);
    tinv_tokenizer *t1 = load(sd1_dir);
    CHECK(t1 != NULL);
    CHECK(tinv_tokenizer_encode(t1, "wow!", 1, ids, 77, &n, NULL) == TINV_OK);
    CHECK(ids[2] != 0 && ids[4] == 49407);
    tinv_tokenizer_free(t1);
    tinv_tokenizer_free(tok);
}

static void test_added_tokens(void)
{
    tinv_tokenizer *tok = load(sd1_dir);
    CHECK(tok != NULL);
    int32_t a, b, c;
    CHECK(tinv_tokenizer_add_token(tok, "<cat-toy>", &a) == TINV_OK && a == 49408);
    CHECK(tinv_tokenizer_add_token(tok, "<cat-toy>_1", &b) == TINV_OK && b == 49409);
    CHECK(tinv_tokenizer_vocab_size(tok) == 49410);
    CHECK(tinv_tokenizer_add_token(tok, "<cat-toy>", &c) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "49408") != NULL);
    CHECK(tinv_tokenizer_add_token(tok, "cat</w>", &c) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_add_token(tok, "", &c) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_add_token(tok, "\xFF", &c) == TINV_ERR_INVALID_ARGUMENT);
    int32_t ids[16];
    size_t n;
    /* longest match wins; case-sensitive; matched before clean-up */
    CHECK(tinv_tokenizer_encode(tok, "a <cat-toy>_1 <cat-toy>'s", 0, ids, 16, &n, NULL) == TINV_OK);
    CHECK(n == 6 && ids[2] == 49409 && ids[3] == 49408);
    CHECK(tinv_tokenizer_encode(tok, "<CAT-TOY>", 0, ids, 16, &n, NULL) == TINV_OK);
    CHECK(n > 3);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] < 49408);
    char text[64];
    int32_t dec[] = {49406, 320, 49408, 2368, 49407};
    CHECK(tinv_tokenizer_decode(tok, dec, 5, text, sizeof text, NULL) == TINV_OK);
    CHECK(strcmp(text, "<|startoftext|>a <cat-toy> cat <|endoftext|>") == 0);
    tinv_tokenizer_free(tok);
}

static int warnings;
static void count_warn(void *user, tinv_log_level level, const char *msg)
{
    (void)user;
    (void)msg;
    if (level == TINV_LOG_WARN)
        warnings++;
}

static void test_truncation_and_buffers(void)
{
    tinv_tokenizer *tok = load(sd1_dir);
    CHECK(tok != NULL);
    CHECK(tinv_tokenizer_set_log_callback(tok, count_warn, TINV_LOG_WARN, NULL) == TINV_OK);
    char prompt[1000] = "";
    for (int i = 0; i < 100; i++)
        strcat(prompt, "cat ");
    int32_t ids[200];
    uint8_t mask[200];
    size_t n;
    warnings = 0;
    CHECK(tinv_tokenizer_encode(tok, prompt, 1, ids, 200, &n, mask) == TINV_OK);
    CHECK(n == 77 && ids[75] == 2368 && ids[76] == 49407 && mask[76] == 1 && warnings == 1);
    CHECK(tinv_tokenizer_encode(tok, prompt, 1, ids, 76, &n, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_encode(tok, prompt, 0, NULL, 0, &n, NULL) == TINV_OK && n == 102);
    CHECK(tinv_tokenizer_encode(tok, prompt, 0, ids, 101, &n, NULL) == TINV_ERR_INVALID_ARGUMENT && n == 102);
    CHECK(tinv_tokenizer_encode(tok, prompt, 0, ids, 200, &n, NULL) == TINV_OK && n == 102 && warnings == 1);
    CHECK(tinv_tokenizer_encode(tok, "x", 1, NULL, 77, &n, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_encode(NULL, "x", 1, ids, 77, &n, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_encode(tok, NULL, 1, ids, 77, &n, NULL) == TINV_ERR_INVALID_ARGUMENT);
    /* invalid UTF-8 is an error that names the offset */
    CHECK(tinv_tokenizer_encode(tok, "ok \xC3(", 1, ids, 77, &n, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "offset 3") != NULL);
    tinv_tokenizer_free(tok);
}

static void test_decode_roundtrip(void)
{
    tinv_tokenizer *tok = load(sd1_dir);
    CHECK(tok != NULL);
    const char *p = "a caf\xC3\xA9 in \xE6\x97\xA5\xE6\x9C\xAC, at 4pm!";
    int32_t ids[64];
    size_t n, need;
    CHECK(tinv_tokenizer_encode(tok, p, 0, ids, 64, &n, NULL) == TINV_OK);
    char text[128];
    CHECK(tinv_tokenizer_decode(tok, ids + 1, n - 2, text, sizeof text, &need) == TINV_OK);
    CHECK(strcmp(text, "a caf\xC3\xA9 in \xE6\x97\xA5\xE6\x9C\xAC , at 4 pm ! ") == 0 ||
          strcmp(text, "a caf\xC3\xA9 in \xE6\x97\xA5\xE6\x9C\xAC , at 4 pm !") == 0);
    CHECK(need == strlen(text));
    char small[4];
    CHECK(tinv_tokenizer_decode(tok, ids + 1, n - 2, small, sizeof small, &need) == TINV_OK);
    CHECK(strlen(small) == 3 && need > 3);
    int32_t bad = 60000;
    CHECK(tinv_tokenizer_decode(tok, &bad, 1, text, sizeof text, NULL) == TINV_ERR_INVALID_ARGUMENT);
    tinv_tokenizer_free(tok);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_huge_prompts(void)
{
    tinv_tokenizer *tok = load(sd1_dir);
    CHECK(tok != NULL);
    size_t len = 1 << 20;
    char *p = malloc(len + 1);
    CHECK(p != NULL);
    /* 1 MB of one letter: a single pre-token, which must not go quadratic */
    memset(p, 'x', len);
    p[len] = '\0';
    int32_t ids[77];
    size_t n;
    double t0 = now_s();
    CHECK(tinv_tokenizer_encode(tok, p, 1, ids, 77, &n, NULL) == TINV_OK && n == 77 && ids[76] == 49407);
    /* 1 MB of varied words, punctuation and non-ASCII */
    const char *words[] = {"photo ", "caf\xC3\xA9, ", "\xE7\x8C\xAB ", "don't ", "&amp; ", "!!! ", "xyzzy42 "};
    size_t k = 0;
    for (size_t w = 0; k + 16 < len; w = (w * 7 + 3) % 7) {
        size_t wl = strlen(words[w]);
        memcpy(p + k, words[w], wl);
        k += wl;
        w += k % 5;
    }
    p[k] = '\0';
    CHECK(tinv_tokenizer_encode(tok, p, 1, ids, 77, &n, NULL) == TINV_OK && n == 77);
    CHECK(now_s() - t0 < 20.0);
    free(p);
    tinv_tokenizer_free(tok);
}

int main(void)
{
    RUN(test_clean_whitespace_and_case);
    RUN(test_clean_ftfy_fixes);
    RUN(test_utf8_validation);
    RUN(test_byte_table);
    RUN(test_bad_files);

    const char *fx = check_fixtures_dir();
    if (fx != NULL) {
        snprintf(sd1_dir, sizeof sd1_dir, "%s/sd1-tiny", fx);
        snprintf(sd2_dir, sizeof sd2_dir, "%s/sd2-tiny", fx);
        snprintf(gz_path, sizeof gz_path, "%s/clip/bpe_simple_vocab_16e6.txt.gz", fx);
        struct stat st;
        have_fixtures = stat(gz_path, &st) == 0 && stat(sd1_dir, &st) == 0 && stat(sd2_dir, &st) == 0;
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } fixture_tests[] = {
        {"test_openai_gz_equals_hf_vocab", test_openai_gz_equals_hf_vocab},
        {"test_basic_encode", test_basic_encode},
        {"test_sd2_pad_token_splits", test_sd2_pad_token_splits},
        {"test_added_tokens", test_added_tokens},
        {"test_truncation_and_buffers", test_truncation_and_buffers},
        {"test_decode_roundtrip", test_decode_roundtrip},
        {"test_huge_prompts", test_huge_prompts},
    };
    for (size_t i = 0; i < sizeof fixture_tests / sizeof fixture_tests[0]; i++)
        if (!skip_without_fixtures(fixture_tests[i].name))
            check_run(fixture_tests[i].name, fixture_tests[i].fn);
    return check_summary("test_tokenizer");
}
