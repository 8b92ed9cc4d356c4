/* The crisis recogniser's per-message word pass, in C.
 *
 * Every message a participant sends goes through two word passes: the pattern index
 * (`index.Index.triggered`: which patterns may match) and the second opinion
 * (`opinion.Opinion.level`: its gate, then a sum of word weights). In Python each is a few dozen
 * dict, set and big-int operations per message, about half of the default filter chain's time.
 * Here each is one loop over the message's words with fixed arrays: the same answers (held to it
 * by tests/test_crisis_scan.py over every corpus line, in both directions), without allocating.
 *
 * What each word stands for is still worked out in Python (a `miss` callable), once per word as
 * typed, and kept in a bounded dict as a small packed `bytes` entry of unsigned 32-bit ints:
 *
 *   index entry:   flags, n_patterns, n_groups, pattern ids..., need-group ids...
 *                  (flags: a count in the low 16 bits, hint bits above; see Scanner.triggered)
 *   opinion entry: opens_gate, n_words, n_stems, word ids (UNKNOWN if unweighed)..., stem ids...
 *
 * "Seen in this message" is a stamp per pattern, group, word, stem and pair: a message bumps the
 * stamp instead of clearing anything. The GIL is held throughout; Python code (the miss callable)
 * runs only while entries are gathered, before any stamp is touched.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define UNKNOWN 0xFFFFFFFFu
/* A word's flags: a count (leetspeak 3, a single letter 1) and what deobfuscating could change. */
#define COUNT_MASK 0xFFFFu
#define HINT_LEET (1u << 16)   /* leetspeak inside the word */
#define HINT_INNER (1u << 17)  /* letters spelt out inside the word ("k.i.l.l") */
#define HINT_SINGLE (1u << 18) /* one letter, perhaps with spacers ("s", "s.", ".s") */
#define HINT_SPACED (1u << 19) /* two such words in a row (set here, not by a word) */
#define STACK_WORDS 64

/* ---- shared: split a text into words, once for both passes --------------------------------------- */

/* The last text split and its words: the filter asks the index and then the second opinion about
 * the same text object, so the second split (and the hashing of its words) is saved. Strong
 * references: the text cannot be freed and its address reused while it is remembered. */
static PyObject *last_text = NULL;
static PyObject *last_words = NULL;

/* A new reference to `text.split()`. */
static PyObject *
split_words(PyObject *text)
{
    if (text == last_text) {
        Py_INCREF(last_words);
        return last_words;
    }
    PyObject *words = PyUnicode_Split(text, NULL, -1);
    if (words == NULL) {
        return NULL;
    }
    Py_INCREF(text);
    Py_INCREF(words);
    Py_XSETREF(last_text, text);
    Py_XSETREF(last_words, words);
    return words;
}

/* ---- shared: gather each word's entry from the cache, computing the missing ones ------------- */

/* New references to the entries of `words` (a list of str) in `out`; on error none is held. */
static int
gather(PyObject *cache, PyObject *miss, Py_ssize_t limit, PyObject *words, PyObject **out)
{
    Py_ssize_t n = PyList_GET_SIZE(words);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        PyObject *entry = PyDict_GetItemWithError(cache, word);
        if (entry != NULL) {
            Py_INCREF(entry);
        }
        else {
            if (PyErr_Occurred()) {
                goto fail;
            }
            if (PyDict_GET_SIZE(cache) >= limit) {
                PyDict_Clear(cache);
            }
            entry = PyObject_CallOneArg(miss, word);
            if (entry == NULL) {
                goto fail;
            }
            if (!PyBytes_Check(entry) || PyBytes_GET_SIZE(entry) < 12 || PyBytes_GET_SIZE(entry) % 4) {
                Py_DECREF(entry);
                PyErr_SetString(PyExc_TypeError, "a word's entry must be packed uint32 bytes");
                goto fail;
            }
            if (PyDict_SetItem(cache, word, entry) < 0) {
                Py_DECREF(entry);
                goto fail;
            }
        }
        out[i] = entry;
        continue;
    fail:
        for (Py_ssize_t j = 0; j < i; j++) {
            Py_DECREF(out[j]);
        }
        return -1;
    }
    return 0;
}

static void
release(PyObject **entries, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(entries[i]);
    }
}

/* The entry's header and body, or NULL (with an exception) when its counts do not fit its size. */
static const uint32_t *
entry_ints(PyObject *entry)
{
    const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(entry);
    Py_ssize_t size = PyBytes_GET_SIZE(entry) / 4;
    if ((Py_ssize_t)3 + ints[1] + ints[2] != size) {
        PyErr_SetString(PyExc_ValueError, "a word's entry does not match its counts");
        return NULL;
    }
    return ints;
}

/* One text's words and their entries, gathered for a pass over them. */
typedef struct {
    PyObject *words;
    PyObject **entries;
    Py_ssize_t n;
    PyObject *stack[STACK_WORDS];
} Gathered;

/* Split `text` and gather its words' entries, each checked against its counts: 0, or -1 with an
 * exception and nothing held. `cache` is NULL when the object was never initialised. */
static int
gather_text(Gathered *g, PyObject *cache, PyObject *miss, Py_ssize_t limit, PyObject *text)
{
    if (cache == NULL) {
        PyErr_SetString(PyExc_TypeError, "not initialised");
        return -1;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be str");
        return -1;
    }
    g->words = split_words(text);
    if (g->words == NULL) {
        return -1;
    }
    g->n = PyList_GET_SIZE(g->words);
    g->entries = g->n <= STACK_WORDS ? g->stack : PyMem_Malloc(g->n * sizeof(PyObject *));
    if (g->entries == NULL) {
        PyErr_NoMemory();
        Py_DECREF(g->words);
        return -1;
    }
    int failed = gather(cache, miss, limit, g->words, g->entries) < 0;
    for (Py_ssize_t i = 0; !failed && i < g->n; i++) {
        if (entry_ints(g->entries[i]) == NULL) {
            release(g->entries, g->n);
            failed = 1;
        }
    }
    if (!failed) {
        return 0;
    }
    if (g->entries != g->stack) {
        PyMem_Free(g->entries);
    }
    Py_DECREF(g->words);
    return -1;
}

static void
gathered_release(Gathered *g)
{
    release(g->entries, g->n);
    if (g->entries != g->stack) {
        PyMem_Free(g->entries);
    }
    Py_DECREF(g->words);
}

/* Read a bytes object of native uint32s into a fresh array (NULL and an exception on error). */
static uint32_t *
copy_uints(PyObject *data, Py_ssize_t *count)
{
    if (!PyBytes_Check(data) || PyBytes_GET_SIZE(data) % 4) {
        PyErr_SetString(PyExc_TypeError, "expected packed uint32 bytes");
        return NULL;
    }
    *count = PyBytes_GET_SIZE(data) / 4;
    uint32_t *out = PyMem_Malloc((*count + 1) * sizeof(uint32_t));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, PyBytes_AS_STRING(data), *count * sizeof(uint32_t));
    return out;
}

static uint32_t *
zeros(Py_ssize_t count)
{
    uint32_t *out = PyMem_Calloc(count + 1, sizeof(uint32_t));
    if (out == NULL) {
        PyErr_NoMemory();
    }
    return out;
}

/* ---- Scanner: the pattern index ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *cache;
    PyObject *miss;
    Py_ssize_t limit;
    Py_ssize_t patterns;
    Py_ssize_t groups;
    uint32_t *need_start; /* patterns + 1 offsets into need_ids */
    uint32_t *need_ids;
    Py_ssize_t need_count;
    uint32_t *pattern_stamp;
    uint32_t *group_stamp;
    uint32_t stamp;
    long obfuscated_at; /* the count from which a text may be obfuscated */
} Scanner;

static void
Scanner_dealloc(Scanner *self)
{
    Py_XDECREF(self->cache);
    Py_XDECREF(self->miss);
    PyMem_Free(self->need_start);
    PyMem_Free(self->need_ids);
    PyMem_Free(self->pattern_stamp);
    PyMem_Free(self->group_stamp);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Scanner(cache, miss, limit, patterns, groups, need_start, need_ids, obfuscated_at) */
static int
Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    PyObject *cache, *miss, *starts, *ids;
    Py_ssize_t limit, patterns, groups, count;
    long obfuscated_at;
    static char *names[] = {"cache",    "miss",     "limit",         "patterns", "groups",
                            "need_start", "need_ids", "obfuscated_at", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OnnnSSl", names, &PyDict_Type, &cache, &miss, &limit,
                                     &patterns, &groups, &starts, &ids, &obfuscated_at)) {
        return -1;
    }
    if (self->need_start != NULL) {
        PyErr_SetString(PyExc_TypeError, "Scanner is initialised once");
        return -1;
    }
    if (limit < 1 || patterns < 0 || groups < 0 || patterns >= UNKNOWN || groups >= UNKNOWN) {
        PyErr_SetString(PyExc_ValueError, "bad Scanner sizes");
        return -1;
    }
    self->need_start = copy_uints(starts, &count);
    if (self->need_start == NULL) {
        return -1;
    }
    if (count != patterns + 1) {
        PyErr_SetString(PyExc_ValueError, "need_start must hold patterns + 1 offsets");
        return -1;
    }
    self->need_ids = copy_uints(ids, &self->need_count);
    if (self->need_ids == NULL) {
        return -1;
    }
    for (Py_ssize_t p = 0; p < patterns; p++) {
        if (self->need_start[p] > self->need_start[p + 1]) {
            PyErr_SetString(PyExc_ValueError, "need_start must not decrease");
            return -1;
        }
    }
    if ((Py_ssize_t)self->need_start[patterns] > self->need_count || self->need_start[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "need_start does not fit need_ids");
        return -1;
    }
    for (Py_ssize_t k = 0; k < self->need_count; k++) {
        if (self->need_ids[k] >= (uint32_t)groups) {
            PyErr_SetString(PyExc_ValueError, "a need group id is out of range");
            return -1;
        }
    }
    self->pattern_stamp = zeros(patterns);
    self->group_stamp = zeros(groups);
    if (self->pattern_stamp == NULL || self->group_stamp == NULL) {
        return -1;
    }
    self->patterns = patterns;
    self->groups = groups;
    self->limit = limit;
    self->obfuscated_at = obfuscated_at;
    Py_INCREF(cache);
    self->cache = cache;
    Py_INCREF(miss);
    self->miss = miss;
    return 0;
}

static uint32_t
next_stamp(uint32_t *stamp, uint32_t **arrays, const Py_ssize_t *sizes, int count)
{
    if (++*stamp == 0) { /* wrapped after 2**32 messages: forget every old stamp */
        for (int i = 0; i < count; i++) {
            memset(arrays[i], 0, (sizes[i] + 1) * sizeof(uint32_t));
        }
        *stamp = 1;
    }
    return *stamp;
}

PyDoc_STRVAR(Scanner_triggered_doc,
             "triggered(text) -> (found, obfuscation)\n\n"
             "The patterns anchored by a word of `text` whose need groups are all met by its words, and,\n"
             "when its words' counts reach `obfuscated_at`, the hint bits of what deobfuscating may\n"
             "change (else 0): what `Index.triggered` computes in Python.");

static PyObject *
Scanner_triggered(Scanner *self, PyObject *text)
{
    Gathered g;
    if (gather_text(&g, self->cache, self->miss, self->limit, text) < 0) {
        return NULL;
    }
    uint32_t *arrays[2] = {self->pattern_stamp, self->group_stamp};
    Py_ssize_t sizes[2] = {self->patterns, self->groups};
    uint32_t stamp = next_stamp(&self->stamp, arrays, sizes, 2);
    long count = 0;
    uint32_t hints = 0, previous = 0;
    for (Py_ssize_t i = 0; i < g.n; i++) {
        const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(g.entries[i]);
        const uint32_t *groups = ints + 3 + ints[1];
        uint32_t flags = ints[0];
        count += flags & COUNT_MASK;
        hints |= flags & (HINT_LEET | HINT_INNER);
        if (flags & previous & HINT_SINGLE) {
            hints |= HINT_SPACED;
        }
        previous = flags;
        for (uint32_t j = 0; j < ints[2]; j++) {
            if (groups[j] < (uint32_t)self->groups) {
                self->group_stamp[groups[j]] = stamp;
            }
        }
    }
    PyObject *found = PySet_New(NULL);
    for (Py_ssize_t i = 0; found != NULL && i < g.n; i++) {
        const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(g.entries[i]);
        const uint32_t *patterns = ints + 3;
        for (uint32_t j = 0; j < ints[1]; j++) {
            uint32_t p = patterns[j];
            if (p >= (uint32_t)self->patterns || self->pattern_stamp[p] == stamp) {
                continue;
            }
            self->pattern_stamp[p] = stamp;
            uint32_t k = self->need_start[p], end = self->need_start[p + 1];
            while (k < end && self->group_stamp[self->need_ids[k]] == stamp) {
                k++;
            }
            if (k < end) {
                continue;
            }
            PyObject *number = PyLong_FromUnsignedLong(p);
            if (number == NULL || PySet_Add(found, number) < 0) {
                Py_XDECREF(number);
                Py_CLEAR(found);
                break;
            }
            Py_DECREF(number);
        }
    }
    gathered_release(&g);
    if (found == NULL) {
        return NULL;
    }
    return Py_BuildValue("(Nk)", found, (unsigned long)(count >= self->obfuscated_at ? hints : 0));
}

static PyMethodDef Scanner_methods[] = {
    {"triggered", (PyCFunction)Scanner_triggered, METH_O, Scanner_triggered_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Scanner_members[] = {
    /* writable so that a test can start near the wrap-around */
    {"stamp", T_UINT, offsetof(Scanner, stamp), 0, "the last message's stamp"},
    {NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chatserver.crisis._scan.Scanner",
    .tp_doc = PyDoc_STR("The pattern index's word pass (see chatserver/crisis/index.py)."),
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_members = Scanner_members,
};

/* ---- Weigher: the second opinion ----------------------------------------------------------------- */

#define MODELS 3 /* risk, imminent, active */

typedef struct {
    uint64_t key; /* (first << 32 | second) + 1; 0 is an empty slot */
    uint32_t stamp;
    double weight[MODELS];
} PairSlot;

typedef struct {
    PyObject_HEAD
    PyObject *cache;
    PyObject *miss;
    Py_ssize_t limit;
    Py_ssize_t words;
    Py_ssize_t stems;
    double *word_weight; /* words * MODELS */
    double *stem_weight; /* stems * MODELS */
    uint32_t *word_stamp;
    uint32_t *stem_stamp;
    PairSlot *pairs;
    uint64_t pair_mask;
    double bias[MODELS];
    double threshold;
    uint32_t stamp;
    PyObject *names; /* what level() answers for 0 (nothing), 1 passive, 2 active, 3 imminent */
} Weigher;

static void
Weigher_dealloc(Weigher *self)
{
    Py_XDECREF(self->cache);
    Py_XDECREF(self->miss);
    Py_XDECREF(self->names);
    PyMem_Free(self->word_weight);
    PyMem_Free(self->stem_weight);
    PyMem_Free(self->word_stamp);
    PyMem_Free(self->stem_stamp);
    PyMem_Free(self->pairs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline uint64_t
pair_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
}

static PairSlot *
pair_slot(Weigher *self, uint32_t first, uint32_t second)
{
    uint64_t key = (((uint64_t)first << 32) | second) + 1;
    for (uint64_t at = pair_hash(key) & self->pair_mask;; at = (at + 1) & self->pair_mask) {
        PairSlot *slot = &self->pairs[at];
        if (slot->key == key || slot->key == 0) {
            return slot;
        }
    }
}

static double *
copy_doubles(PyObject *data, Py_ssize_t expected)
{
    if (!PyBytes_Check(data) || PyBytes_GET_SIZE(data) != expected * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "weights must be packed doubles, MODELS per id");
        return NULL;
    }
    double *out = PyMem_Malloc((expected + 1) * sizeof(double));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, PyBytes_AS_STRING(data), expected * sizeof(double));
    return out;
}

/* Weigher(cache, miss, limit, words, stems, word_weights, stem_weights, pair_ids, pair_weights,
 *         biases, threshold, names) */
static int
Weigher_init(Weigher *self, PyObject *args, PyObject *kwds)
{
    PyObject *cache, *miss, *word_weights, *stem_weights, *pair_ids, *pair_weights, *answers;
    Py_ssize_t limit, words, stems, count;
    double b0, b1, b2, threshold;
    static char *names[] = {"cache",        "miss",         "limit",  "words",     "stems", "word_weights",
                            "stem_weights", "pair_ids",     "pair_weights", "biases", "threshold", "names",
                            NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OnnnSSSS(ddd)dO!", names, &PyDict_Type, &cache, &miss,
                                     &limit, &words, &stems, &word_weights, &stem_weights, &pair_ids,
                                     &pair_weights, &b0, &b1, &b2, &threshold, &PyTuple_Type, &answers)) {
        return -1;
    }
    if (PyTuple_GET_SIZE(answers) != 4) {
        PyErr_SetString(PyExc_ValueError, "names must hold four answers: nothing, passive, active, imminent");
        return -1;
    }
    if (self->word_weight != NULL) {
        PyErr_SetString(PyExc_TypeError, "Weigher is initialised once");
        return -1;
    }
    if (limit < 1 || words < 0 || stems < 0 || words >= UNKNOWN || stems >= UNKNOWN) {
        PyErr_SetString(PyExc_ValueError, "bad Weigher sizes");
        return -1;
    }
    self->word_weight = copy_doubles(word_weights, words * MODELS);
    self->stem_weight = copy_doubles(stem_weights, stems * MODELS);
    if (self->word_weight == NULL || self->stem_weight == NULL) {
        return -1;
    }
    uint32_t *ids = copy_uints(pair_ids, &count);
    if (ids == NULL) {
        return -1;
    }
    Py_ssize_t pairs = count / 2;
    double *weights = count % 2 ? NULL : copy_doubles(pair_weights, pairs * MODELS);
    if (weights == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "pair_ids must hold two ids per pair");
        }
        PyMem_Free(ids);
        return -1;
    }
    uint64_t size = 16;
    while (size < (uint64_t)pairs * 2) {
        size <<= 1;
    }
    self->pairs = PyMem_Calloc(size, sizeof(PairSlot));
    self->word_stamp = zeros(words);
    self->stem_stamp = zeros(stems);
    if (self->pairs == NULL || self->word_stamp == NULL || self->stem_stamp == NULL) {
        PyMem_Free(ids);
        PyMem_Free(weights);
        PyErr_NoMemory();
        return -1;
    }
    self->pair_mask = size - 1;
    for (Py_ssize_t i = 0; i < pairs; i++) {
        if (ids[2 * i] >= (uint32_t)words || ids[2 * i + 1] >= (uint32_t)words) {
            PyMem_Free(ids);
            PyMem_Free(weights);
            PyErr_SetString(PyExc_ValueError, "a pair's word id is out of range");
            return -1;
        }
        PairSlot *slot = pair_slot(self, ids[2 * i], ids[2 * i + 1]);
        slot->key = (((uint64_t)ids[2 * i] << 32) | ids[2 * i + 1]) + 1;
        memcpy(slot->weight, weights + i * MODELS, sizeof(slot->weight));
    }
    PyMem_Free(ids);
    PyMem_Free(weights);
    self->words = words;
    self->stems = stems;
    self->bias[0] = b0;
    self->bias[1] = b1;
    self->bias[2] = b2;
    self->threshold = threshold;
    self->limit = limit;
    Py_INCREF(answers);
    self->names = answers;
    Py_INCREF(cache);
    self->cache = cache;
    Py_INCREF(miss);
    self->miss = miss;
    return 0;
}

static double
probability(double z)
{
    /* as opinion._Scorer.probability: 1 / (1 + exp(-max(-30, min(30, z)))) */
    double clamped = z < 30.0 ? z : 30.0;
    clamped = clamped > -30.0 ? clamped : -30.0;
    return 1.0 / (1.0 + exp(-clamped));
}

PyDoc_STRVAR(Weigher_level_doc,
             "level(text) -> names[0 .. 3]\n\n"
             "names[0] when the gate stays shut or risk is not above the threshold, else names[3]\n"
             "(imminent), [2] (active) or [1] (passive): what `Opinion.level` computes in Python.");

/* The answer's number (0 nothing, 1 passive, 2 active, 3 imminent) for gathered words. */
static int
weigh(Weigher *self, const Gathered *g)
{
    int opens = 0;
    Py_ssize_t word_count = 0;
    for (Py_ssize_t i = 0; i < g->n; i++) {
        const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(g->entries[i]);
        opens |= ints[0] != 0;
        word_count += ints[1];
    }
    if (!opens) {
        return 0;
    }
    uint32_t *arrays[2] = {self->word_stamp, self->stem_stamp};
    Py_ssize_t sizes[2] = {self->words, self->stems};
    uint32_t stamp = next_stamp(&self->stamp, arrays, sizes, 2);
    if (stamp == 1) { /* a fresh round of stamps: pairs forget theirs too */
        for (uint64_t at = 0; at <= self->pair_mask; at++) {
            self->pairs[at].stamp = 0;
        }
    }
    /* Each sum in the order Python's reference adds it: words, stems and pairs each by first
     * appearance, then bias + words, + stems, + pairs (so both give the same float). */
    double words[MODELS] = {0.0, 0.0, 0.0}, stems[MODELS] = {0.0, 0.0, 0.0}, pairs[MODELS] = {0.0, 0.0, 0.0};
    uint32_t previous = UNKNOWN;
    for (Py_ssize_t i = 0; i < g->n; i++) {
        const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(g->entries[i]);
        const uint32_t *ids = ints + 3;
        for (uint32_t j = 0; j < ints[1]; j++) {
            uint32_t id = ids[j];
            if (id < (uint32_t)self->words && self->word_stamp[id] != stamp) {
                self->word_stamp[id] = stamp;
                for (int m = 0; m < MODELS; m++) {
                    words[m] += self->word_weight[(Py_ssize_t)id * MODELS + m];
                }
            }
            if (previous < (uint32_t)self->words && id < (uint32_t)self->words) {
                PairSlot *slot = pair_slot(self, previous, id);
                if (slot->key != 0 && slot->stamp != stamp) {
                    slot->stamp = stamp;
                    for (int m = 0; m < MODELS; m++) {
                        pairs[m] += slot->weight[m];
                    }
                }
            }
            previous = id;
        }
    }
    for (Py_ssize_t i = 0; i < g->n; i++) {
        const uint32_t *ints = (const uint32_t *)PyBytes_AS_STRING(g->entries[i]);
        const uint32_t *ids = ints + 3 + ints[1];
        for (uint32_t j = 0; j < ints[2]; j++) {
            uint32_t id = ids[j];
            if (id < (uint32_t)self->stems && self->stem_stamp[id] != stamp) {
                self->stem_stamp[id] = stamp;
                for (int m = 0; m < MODELS; m++) {
                    stems[m] += self->stem_weight[(Py_ssize_t)id * MODELS + m];
                }
            }
        }
    }
    double z[MODELS];
    for (int m = 0; m < MODELS; m++) {
        z[m] = self->bias[m] + words[m];
        z[m] += stems[m];
        if (word_count > 1) {
            z[m] += pairs[m];
        }
    }
    if (probability(z[0]) <= self->threshold) {
        return 0;
    }
    if (probability(z[1]) > 0.5) {
        return 3;
    }
    return probability(z[2]) > 0.5 ? 2 : 1;
}

static PyObject *
Weigher_level(Weigher *self, PyObject *text)
{
    Gathered g;
    if (gather_text(&g, self->cache, self->miss, self->limit, text) < 0) {
        return NULL;
    }
    int answer = weigh(self, &g);
    gathered_release(&g);
    PyObject *name = PyTuple_GET_ITEM(self->names, answer);
    Py_INCREF(name);
    return name;
}

static PyMethodDef Weigher_methods[] = {
    {"level", (PyCFunction)Weigher_level, METH_O, Weigher_level_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Weigher_members[] = {
    {"stamp", T_UINT, offsetof(Weigher, stamp), 0, "the last weighed message's stamp"},
    {NULL},
};

static PyTypeObject WeigherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chatserver.crisis._scan.Weigher",
    .tp_doc = PyDoc_STR("The second opinion's word pass (see chatserver/crisis/opinion.py)."),
    .tp_basicsize = sizeof(Weigher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Weigher_init,
    .tp_dealloc = (destructor)Weigher_dealloc,
    .tp_methods = Weigher_methods,
    .tp_members = Weigher_members,
};

/* ---- the words of a text and where they stand ------------------------------------------------ */

static inline int
is_word_char(Py_UCS4 ch)
{
    /* what `re` counts as \w in a str pattern */
    return Py_UNICODE_ISALNUM(ch) || ch == '_';
}

PyDoc_STRVAR(word_spans_doc,
             "word_spans(text) -> (words, starts, ends)\n\n"
             "The matches of `\\w+(?:['\\u2019]\\w+)*` in `text`, left to right, and where each starts and ends:\n"
             "what `[(m.group(), *m.span()) for m in reading._WORDS.finditer(text)]` gives.");

static PyObject *
word_spans(PyObject *module, PyObject *text)
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
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < n && is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        for (;;) { /* an apostrophe joins the next run of word characters */
            if (i + 1 >= n) {
                break;
            }
            Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if ((ch != '\'' && ch != 0x2019) || !is_word_char(PyUnicode_READ(kind, data, i + 1))) {
                break;
            }
            i += 2;
            while (i < n && is_word_char(PyUnicode_READ(kind, data, i))) {
                i++;
            }
        }
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

static PyMethodDef scan_functions[] = {
    {"word_spans", (PyCFunction)word_spans, METH_O, word_spans_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- module ------------------------------------------------------------------------------------ */

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chatserver.crisis._scan",
    .m_doc = PyDoc_STR("The crisis recogniser's per-message word passes in C (see _scan.c)."),
    .m_size = -1,
    .m_methods = scan_functions,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    if (PyType_Ready(&ScannerType) < 0 || PyType_Ready(&WeigherType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&scan_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddObjectRef(module, "Weigher", (PyObject *)&WeigherType) < 0 ||
        PyModule_AddIntConstant(module, "UNKNOWN", (long)UNKNOWN) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
