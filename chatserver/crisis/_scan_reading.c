/* Reading around a match, in C: the words of a text, negators before a match, someone else's words.
 *
 * reading.py holds the meaning and the Python reference (`Words`, `negated`, `someone_else`); here is
 * the same reading done straight from the text's characters for each match, with no list of the
 * message's words built first. A message with a risk phrase has two to six matches, and reading
 * around them in Python was most of such a message's time. tests/test_crisis_scan.py holds both
 * to reading the text afresh around every match of every corpus line.
 */
#include "_scan.h"

static inline int
is_word_char(Py_UCS4 ch)
{
    /* what `re` counts as \w in a str pattern */
    return Py_UNICODE_ISALNUM(ch) || ch == '_';
}

static inline int
is_apostrophe(Py_UCS4 ch)
{
    return ch == '\'' || ch == 0x2019;
}

/* The next match of `\w+(?:['\u2019]\w+)*` in text[*at:hi] (as the regex finds it with `hi` as its
 * endpos): 1 with it in [*start, *at), or 0 when there is none. */
static int
next_word(int kind, const void *data, Py_ssize_t hi, Py_ssize_t *at, Py_ssize_t *start)
{
    Py_ssize_t i = *at;
    while (i < hi && !is_word_char(PyUnicode_READ(kind, data, i))) {
        i++;
    }
    if (i >= hi) {
        *at = i;
        return 0;
    }
    *start = i;
    while (i < hi && is_word_char(PyUnicode_READ(kind, data, i))) {
        i++;
    }
    /* an apostrophe joins the next run of word characters */
    while (i + 1 < hi && is_apostrophe(PyUnicode_READ(kind, data, i)) &&
           is_word_char(PyUnicode_READ(kind, data, i + 1))) {
        i += 2;
        while (i < hi && is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
        }
    }
    *at = i;
    return 1;
}

const char scan_word_spans_doc[] =
    "word_spans(text) -> (words, starts, ends)\n\n"
    "The matches of `\\w+(?:['\\u2019]\\w+)*` in `text`, left to right, and where each starts and ends:\n"
    "what `[(m.group(), *m.span()) for m in reading._WORDS.finditer(text)]` gives.";

PyObject *
scan_word_spans(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *words = PyList_New(0), *starts = PyList_New(0), *ends = PyList_New(0);
    if (words == NULL || starts == NULL || ends == NULL) {
        goto fail;
    }
    Py_ssize_t i = 0, start = 0;
    while (next_word(kind, data, n, &i, &start)) {
        PyObject *word = PyUnicode_Substring(text, start, i);
        PyObject *at = PyLong_FromSsize_t(start);
        PyObject *end = PyLong_FromSsize_t(i);
        int failed = word == NULL || at == NULL || end == NULL || PyList_Append(words, word) < 0 ||
                     PyList_Append(starts, at) < 0 || PyList_Append(ends, end) < 0;
        Py_XDECREF(word);
        Py_XDECREF(at);
        Py_XDECREF(end);
        if (failed) {
            goto fail;
        }
    }
    return Py_BuildValue("(NNN)", words, starts, ends);
fail:
    Py_XDECREF(words);
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    return NULL;
}

/* ---- reading around a match ------------------------------------------------------------------- */

#define KEY_STACK 64

/* Whether the key of text[from:to] (`reading.word_keys`: apostrophes gone, each run of one character
 * written once) is in `words`: 1, 0, or -1 with an exception. */
static int
key_in(int kind, const void *data, Py_ssize_t from, Py_ssize_t to, PyObject *words)
{
    Py_UCS4 stack[KEY_STACK];
    Py_UCS4 *key = stack;
    if (to - from > KEY_STACK) {
        key = PyMem_Malloc((size_t)(to - from) * sizeof(Py_UCS4));
        if (key == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = from; i < to; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (is_apostrophe(ch) || (n > 0 && key[n - 1] == ch)) {
            continue;
        }
        key[n++] = ch;
    }
    PyObject *word = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, key, n);
    if (key != stack) {
        PyMem_Free(key);
    }
    if (word == NULL) {
        return -1;
    }
    int found = PySet_Contains(words, word);
    Py_DECREF(word);
    return found;
}

/* Whether a word of text[lo:hi] has its key in `words`: 1, 0, or -1 with an exception. */
static int
any_word_in(int kind, const void *data, Py_ssize_t lo, Py_ssize_t hi, PyObject *words)
{
    Py_ssize_t at = lo, start = 0;
    while (next_word(kind, data, hi, &at, &start)) {
        int found = key_in(kind, data, start, at, words);
        if (found != 0) {
            return found;
        }
    }
    return 0;
}

typedef struct {
    Py_ssize_t n; /* how many of the last words before the match are kept, at most their count */
    Py_ssize_t start[SUBJECT_WORDS], end[SUBJECT_WORDS];
} Before;

/* The last `count` words before `at` (not before `base`), within a window of 12 characters a word
 * and after the window's last character of `stops`: `Words.words_before`, as spans. */
static void
words_before(int kind, const void *data, Py_ssize_t at, Py_ssize_t count, const char *stops,
             Py_ssize_t base, Before *out)
{
    Py_ssize_t lo = at - 12 * count > base ? at - 12 * count : base;
    if (lo < 0) { /* a negative `join`: as Python's pos, it means the start */
        lo = 0;
    }
    for (Py_ssize_t i = at - 1; i >= lo; i--) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < 128 && ch != 0 && strchr(stops, (int)ch) != NULL) {
            lo = i + 1;
            break;
        }
    }
    Py_ssize_t seen = 0, i = lo, start = 0;
    while (next_word(kind, data, at, &i, &start)) {
        /* a ring of the last `count` words: word k sits at k % count */
        out->start[seen % count] = start;
        out->end[seen % count] = i;
        seen++;
    }
    out->n = seen < count ? seen : count;
    /* put them in order, oldest first */
    if (seen > count) {
        Py_ssize_t first = seen % count, starts[SUBJECT_WORDS], ends[SUBJECT_WORDS];
        for (Py_ssize_t k = 0; k < count; k++) {
            starts[k] = out->start[(first + k) % count];
            ends[k] = out->end[(first + k) % count];
        }
        memcpy(out->start, starts, sizeof(starts[0]) * count);
        memcpy(out->end, ends, sizeof(ends[0]) * count);
    }
}

/* `reading.negated`: a negator among the words just before the match (in its part of the clause,
 * not before `join` for a match in the new message) or inside it. */
static int
negated(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t join, PyObject *negators)
{
    if (PySet_GET_SIZE(negators) == 0) {
        return 0;
    }
    Before before;
    words_before(kind, data, start, NEGATION_WORDS, ".!?;:,\n", start >= join ? join : 0, &before);
    for (Py_ssize_t k = 0; k < before.n; k++) {
        int found = key_in(kind, data, before.start[k], before.end[k], negators);
        if (found != 0) {
            return found;
        }
    }
    return any_word_in(kind, data, start, end, negators);
}

/* `reading.someone_else`: the nearest subject before the match, in its clause, is someone else's. */
static int
someone_else(int kind, const void *data, Py_ssize_t start, Py_ssize_t end, PyObject *self_words,
             PyObject *other_words)
{
    if (PySet_GET_SIZE(other_words) == 0) {
        return 0;
    }
    int mine = any_word_in(kind, data, start, end, self_words);
    if (mine != 0) {
        return mine < 0 ? -1 : 0;
    }
    Before before;
    words_before(kind, data, start, SUBJECT_WORDS, ".!?;:\n", 0, &before);
    for (Py_ssize_t k = before.n - 1; k >= 0; k--) {
        int found = key_in(kind, data, before.start[k], before.end[k], self_words);
        if (found != 0) {
            return found < 0 ? -1 : 0;
        }
        found = key_in(kind, data, before.start[k], before.end[k], other_words);
        if (found != 0) {
            return found;
        }
    }
    return 0;
}

const char scan_read_around_doc[] =
    "read_around(text, start, end, join, negators, self_words, other_words) -> int\n\n"
    "What reading around the match text[start:end] finds: NEGATED when `reading.negated` would say\n"
    "so, plus SOMEONE_ELSE when `reading.someone_else` would (the word sets are frozensets of keys).";

PyObject *
scan_read_around(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "read_around takes 7 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be str");
        return NULL;
    }
    for (int k = 4; k < 7; k++) {
        if (!PyAnySet_Check(args[k])) {
            PyErr_SetString(PyExc_TypeError, "the word lists must be sets");
            return NULL;
        }
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t join = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || end < start || end > n) {
        PyErr_SetString(PyExc_ValueError, "the match must lie within the text");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int neg = negated(kind, data, start, end, join, args[4]);
    int other = neg < 0 ? 0 : someone_else(kind, data, start, end, args[5], args[6]);
    if (neg < 0 || other < 0) {
        return NULL;
    }
    return PyLong_FromLong((neg ? READ_NEGATED : 0) | (other ? READ_SOMEONE_ELSE : 0));
}
