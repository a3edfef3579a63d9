#!/usr/bin/env python3
"""The classic textual-inversion evaluation, as labelled picture grids.

Loads a Stable Diffusion model (a diffusers folder), gets one or more learned tokens -- from
embedding files (``--embedding FILE[:TOKEN]``, repeatable) and/or by training one first
(``--train IMAGES_DIR --token NAME --init WORD``) -- and samples:

* for the first token T, the prompts "a black and white photo of T", "an oil painting of T",
  "a kid drawing T" and "a photo of T at the top of a mountain", each over the seeds:
  ``OUT/concept_grid.png``;
* when there is a second token T2, "a photo of T and T2" and "T in the style of T2" over the
  seeds: ``OUT/composition_grid.png`` (two learned concepts composed in one prompt).

Each grid has one row per prompt and one column per seed. A title, a "seed N" header over
each column and the prompt above each row are drawn with a small 5x7 bitmap font (below), so
the picture explains itself. A trained token is also saved, to ``OUT/learned_embeds.safetensors``.

    PYTHONPATH=python python3 examples/evaluate.py --model sd-v1-5 \\
        --embedding cat-toy.safetensors --embedding 'style.safetensors:<my-style>' --out eval/
    PYTHONPATH=python python3 examples/evaluate.py --model sd-v1-5 --train pictures/ \\
        --token '<cat-toy>' --init toy --train-steps 3000 --out eval/

Each picture is sampled in its own call with its own seed (a batch may round a pixel
differently), so a column does not change with the other seeds asked for. Pictures come from the
sampler as ``tinv.Image`` (bytes) and the grid is put together in a ``bytearray``: numpy is not
needed, and the output is the same with or without it.

Exit status: 0 when done, 1 on an error (the library's message is printed), 2 for bad
arguments, 130 after Ctrl-C (the library stops at the next step; an interrupted training run
still writes the embedding trained so far).
"""

import argparse
import os
import sys

try:
    import tinv
except ImportError:  # run from a source tree without PYTHONPATH: use <repo>/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python"))
    import tinv

PROG = "evaluate.py"

#: Prompts for one learned token (the textual-inversion paper's qualitative evaluation).
CONCEPT_PROMPTS = (
    "a black and white photo of {0}",
    "an oil painting of {0}",
    "a kid drawing {0}",
    "a photo of {0} at the top of a mountain",
)

#: Prompts composing two learned tokens.
COMPOSITION_PROMPTS = (
    "a photo of {0} and {1}",
    "{0} in the style of {1}",
)

CONCEPT_FILE = "concept_grid.png"
COMPOSITION_FILE = "composition_grid.png"
EMBEDDING_FILE = "learned_embeds.safetensors"

# ---- a 5x7 bitmap font ---------------------------------------------------------------------
# One glyph per printable ASCII character: 7 rows of 5 columns, top to bottom, '#' = ink.
# g, p, q and y are drawn DESCENT rows lower (their last two rows go below the baseline, into
# the space between lines). Anything else is drawn as '?'.
_GLYPHS = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    "$": "..#..|.####|#.#..|.###.|..#.#|####.|..#..",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "&": ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
    "'": "..#..|..#..|.....|.....|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    ",": ".....|.....|.....|.....|..##.|..#..|.#...",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.##..|..#..|.#...",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "@": ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "\\": ".....|#....|.#...|..#..|...#.|....#|.....",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "^": "..#..|.#.#.|#...#|.....|.....|.....|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "`": ".#...|..#..|.....|.....|.....|.....|.....",
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|####.|#...#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.####|#...#|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".####|#...#|#...#|#...#|.####|....#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#.#.#|#.#.#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": "####.|#...#|#...#|#...#|####.|#....|#....",
    "q": ".####|#...#|#...#|#...#|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.####|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": "#...#|#...#|#...#|#...#|.####|....#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "{": "...#.|..#..|..#..|.#...|..#..|..#..|...#.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    "}": ".#...|..#..|..#..|...#.|..#..|..#..|.#...",
    "~": ".....|.....|.#...|#.#.#|...#.|.....|.....",
}
GLYPH_W, GLYPH_H = 5, 7
DESCENT = 2
DESCENDERS = "gpqy"
ADVANCE = GLYPH_W + 1                # one blank column between characters
LINE_HEIGHT = GLYPH_H + DESCENT + 1  # room for descenders, then one blank row


def _glyph_runs(rows, shift=0):
    """'#..##|...' -> [(row + shift, first column, end column)] for each horizontal run of ink."""
    rows = rows.split("|")
    assert len(rows) == GLYPH_H and all(len(r) == GLYPH_W for r in rows), rows
    runs = []
    for y, row in enumerate(rows):
        x = 0
        while x < GLYPH_W:
            if row[x] == "#":
                end = x
                while end < GLYPH_W and row[end] == "#":
                    end += 1
                runs.append((y + shift, x, end))
                x = end
            else:
                x += 1
    return runs


FONT = {ch: _glyph_runs(rows, DESCENT if ch in DESCENDERS else 0) for ch, rows in _GLYPHS.items()}


def wrap(text, width):
    """Greedy word wrap to lines of at most ``width`` characters (long words are cut)."""
    lines, line = [], ""
    for word in text.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return lines


# ---- an RGB canvas in a bytearray ----------------------------------------------------------
class Canvas:
    """width x height RGB8 pixels, rows top to bottom."""

    def __init__(self, width, height, color=(255, 255, 255)):
        self.width, self.height = width, height
        self.data = bytearray(bytes(color) * (width * height))

    def fill(self, x, y, w, h, color):
        x0, x1 = max(x, 0), min(x + w, self.width)
        if x1 <= x0:
            return
        span = bytes(color) * (x1 - x0)
        for row in range(max(y, 0), min(y + h, self.height)):
            i = (row * self.width + x0) * 3
            self.data[i:i + len(span)] = span

    def paste(self, image, x, y):
        """Copy a tinv.Image (RGB) with its top-left corner at (x, y); it must fit."""
        w, h = image.width, image.height
        if image.channels != 3 or x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise ValueError("picture %dx%dx%d does not fit at (%d, %d)" % (w, h, image.channels, x, y))
        src, stride = image.data, w * 3
        for row in range(h):
            i = ((y + row) * self.width + x) * 3
            self.data[i:i + stride] = src[row * stride:(row + 1) * stride]

    def text(self, x, y, s, scale, color=(20, 20, 20)):
        """Draw one line of text with its top-left corner at (x, y), each font pixel a
        scale x scale square."""
        for ch in s:
            for row, c0, c1 in FONT.get(ch, FONT["?"]):
                self.fill(x + c0 * scale, y + row * scale, (c1 - c0) * scale, scale, color)
            x += ADVANCE * scale


def labelled_grid(title, rows, seeds, size):
    """rows: [(label, [picture per seed])] -> a tinv.Image: the title, a "seed N" header over
    each column, and each row of pictures under its label (wrapped to the grid's width)."""
    cols = len(seeds)
    gap = max(4, size // 32)         # margin around and between the pictures
    scale = max(1, size // 128)      # font pixel size: 1 up to 255 px, 4 at 512 px
    adv, line_h = ADVANCE * scale, LINE_HEIGHT * scale
    width = cols * size + (cols + 1) * gap
    chars = max(1, (width - 2 * gap) // adv)
    title_lines = wrap(title, chars)
    labels = [wrap(label, chars) for label, _ in rows]
    height = (gap + len(title_lines) * line_h + gap + line_h + gap // 2
              + sum(len(lines) * line_h + size + gap for lines in labels))

    canvas = Canvas(width, height)
    y = gap
    for line in title_lines:
        canvas.text(gap, y, line, scale)
        y += line_h
    y += gap
    cell_chars = max(1, (size + scale) // adv)
    for c, seed in enumerate(seeds):
        head = ("seed %d" % seed)[:cell_chars]
        x = gap + c * (size + gap) + max(0, (size - len(head) * adv + scale) // 2)
        canvas.text(x, y, head, scale, (90, 90, 90))
    y += line_h + gap // 2
    for lines, (_, pictures) in zip(labels, rows):
        for line in lines:
            canvas.text(gap, y, line, scale)
            y += line_h
        for c, picture in enumerate(pictures):
            canvas.paste(picture, gap + c * (size + gap), y)
        y += size + gap
    assert y == height
    return tinv.Image(canvas.data, width, height, 3)


# ---- arguments ---------------------------------------------------------------------------------
def parse_seeds(text):
    """"N" -> seeds 0..N-1; "a,b,c" -> those seeds."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise argparse.ArgumentTypeError("expected a count N (seeds 0..N-1) or a list such as 7,8,9, got %r"
                                         % text) from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError("expected at least one seed, none negative, got %r" % text)
    return seeds


def split_embedding(arg):
    """"FILE[:TOKEN]" -> (file, token or None); an existing file named with a colon is a file."""
    if os.path.exists(arg):
        return arg, None
    path, sep, token = arg.rpartition(":")
    if sep and path and token and "/" not in token:
        return path, token
    return arg, None


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="Textual-inversion evaluation: sample a learned token in the classic prompts "
        "and write labelled grids (rows: prompts, columns: seeds).")
    p.add_argument("--model", required=True, metavar="DIR", help="Stable Diffusion model (diffusers folder)")
    p.add_argument("--embedding", action="append", default=[], metavar="FILE[:TOKEN]",
                   help="learned embedding to load (repeatable); TOKEN names its token (default: the file's)")
    g = p.add_argument_group("training a token first")
    g.add_argument("--train", metavar="IMAGES_DIR", help="train a token on the pictures in this folder")
    g.add_argument("--token", metavar="NAME", help="the token to train, e.g. '<cat-toy>'")
    g.add_argument("--init", metavar="WORD", help="word the token starts from (a single token, e.g. toy)")
    g.add_argument("--train-steps", type=int, default=3000, metavar="N", help="training steps (default 3000)")
    g.add_argument("--resolution", type=int, default=512, metavar="R", help="training resolution (default 512)")
    g.add_argument("--lr", type=float, default=5e-4, help="learning rate (default 5e-4)")
    p.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2, 3], metavar="N|A,B,..",
                   help="N seeds 0..N-1, or a comma-separated list (default 4: seeds 0..3)")
    p.add_argument("--steps", type=int, default=30, metavar="N", help="sampling steps (default 30)")
    p.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    p.add_argument("--size", type=int, default=512, metavar="PX", help="picture width and height (default 512)")
    p.add_argument("--device", default="cpu", help='"cpu" (default), "cuda" or "cuda:N"')
    p.add_argument("--out", default="evaluation", metavar="DIR", help="output folder (default ./evaluation)")
    args = p.parse_args(argv)
    if args.train is not None:
        if not args.token or not args.init:
            p.error("--train needs --token NAME and --init WORD")
    elif args.token is not None or args.init is not None:
        p.error("--token and --init go with --train IMAGES_DIR")
    if args.train is None and not args.embedding:
        p.error("give a learned token: --embedding FILE[:TOKEN] and/or --train IMAGES_DIR --token NAME --init WORD")
    return args


# ---- the evaluation ----------------------------------------------------------------------------
def note(msg):
    print(msg, file=sys.stderr, flush=True)


def sample_rows(model, prompts, args):
    """[(prompt, [picture per seed])] for each prompt."""
    rows = []
    for i, prompt in enumerate(prompts, 1):
        note("sampling %d/%d: %s" % (i, len(prompts), prompt))
        pictures = []
        for seed in args.seeds:  # one call per seed: a batch may round a pixel differently
            pictures += model.sample(prompt, steps=args.steps, guidance=args.guidance, seed=seed,
                                     width=args.size, height=args.size, output="image")
        rows.append((prompt, pictures))
    return rows


def evaluate(args, state):
    os.makedirs(args.out, exist_ok=True)
    note("loading %s (%s)" % (args.model, args.device))
    with tinv.Model(args.model, device=args.device,
                    log=lambda level, msg: note("%s: %s" % (level.name.lower(), msg))) as model:
        tokens = []
        for arg in args.embedding:  # first, so a bad file fails before a long training run
            path, token = split_embedding(arg)
            tokens.append(model.load_embedding(path, token))
            note("loaded %s from %s" % (tokens[-1], path))
        if args.train is not None:
            output = os.path.join(args.out, EMBEDDING_FILE)
            every = max(1, args.train_steps // 10)

            def progress(step, total, loss, lr):
                if step % every == 0 or step == total:
                    note("training %s: step %d/%d  loss %.4f  lr %.2e" % (args.token, step, total, loss, lr))

            note("training %s from %r on %s: %d steps at %dx%d"
                 % (args.token, args.init, args.train, args.train_steps, args.resolution, args.resolution))
            state["training"] = output
            model.train(args.token, args.train, steps=args.train_steps, lr=args.lr, resolution=args.resolution,
                        init_word=args.init, output=output, progress=progress)
            state["training"] = None
            print("wrote %s (%s)" % (output, args.token), flush=True)
            tokens.insert(0, args.token)

        grids = [(CONCEPT_FILE, "one learned concept in four prompts: %s" % tokens[0],
                  [p.format(tokens[0]) for p in CONCEPT_PROMPTS])]
        if len(tokens) > 1:
            grids.append((COMPOSITION_FILE, "two learned concepts composed in one prompt: %s + %s"
                          % (tokens[0], tokens[1]), [p.format(tokens[0], tokens[1]) for p in COMPOSITION_PROMPTS]))
        for name, title, prompts in grids:
            grid = labelled_grid(title, sample_rows(model, prompts, args), args.seeds, args.size)
            path = os.path.join(args.out, name)
            tinv.write_image(path, grid)
            print("wrote %s (%dx%d: %d prompts x %d seeds)"
                  % (path, grid.width, grid.height, len(prompts), len(args.seeds)), flush=True)


def main(argv=None):
    state = {"training": None}
    try:
        args = parse_args(argv)
        evaluate(args, state)
    except KeyboardInterrupt:
        note("%s: interrupted" % PROG)
        if state["training"] and os.path.exists(state["training"]):
            note("%s: the embedding trained so far is in %s" % (PROG, state["training"]))
        return 130
    except tinv.Error as e:
        note("%s: error: %s" % (PROG, e))
        return 1
    except OSError as e:  # the library could not be loaded, the output folder cannot be made
        note("%s: error: %s" % (PROG, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
