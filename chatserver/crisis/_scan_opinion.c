/* The second opinion's word pass (chatserver/crisis/opinion.py): its gate, then a sum of weights. */
#include "_scan.h"
#include <math.h>

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
    FrontSlot *front; /* the words met lately, before `cache` */
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

/* The cache and the miss callable (a bound method of the Python object that owns this one) make
 * a reference cycle: the collector must see it, or every index or model dropped (a rooms.yaml
 * reload, check-rooms) would stay in memory. */
static int
Weigher_traverse(Weigher *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cache);
    Py_VISIT(self->miss);
    Py_VISIT(self->names);
    return 0;
}

static int
Weigher_clear(Weigher *self)
{
    Py_CLEAR(self->cache);
    Py_CLEAR(self->miss);
    Py_CLEAR(self->names);
    return 0;
}

static void
Weigher_dealloc(Weigher *self)
{
    PyObject_GC_UnTrack(self);
    Weigher_clear(self);
    scan_front_free(self->front);
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

/* The pair weights as an open-addressing table keyed by the two words' numbers: 0, or -1 with an
 * exception. */
static int
build_pairs(Weigher *self, PyObject *pair_ids, PyObject *pair_weights, Py_ssize_t words)
{
    Py_ssize_t count;
    uint32_t *ids = scan_copy_uints(pair_ids, &count);
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
    int result = 0;
    if (self->pairs == NULL) {
        PyErr_NoMemory();
        result = -1;
    }
    self->pair_mask = size - 1;
    for (Py_ssize_t i = 0; result == 0 && i < pairs; i++) {
        if (ids[2 * i] >= (uint32_t)words || ids[2 * i + 1] >= (uint32_t)words) {
            PyErr_SetString(PyExc_ValueError, "a pair's word id is out of range");
            result = -1;
            break;
        }
        PairSlot *slot = pair_slot(self, ids[2 * i], ids[2 * i + 1]);
        slot->key = (((uint64_t)ids[2 * i] << 32) | ids[2 * i + 1]) + 1;
        memcpy(slot->weight, weights + i * MODELS, sizeof(slot->weight));
    }
    PyMem_Free(ids);
    PyMem_Free(weights);
    return result;
}

/* Weigher(cache, miss, limit, words, stems, word_weights, stem_weights, pair_ids, pair_weights,
 *         biases, threshold, names) */
static int
Weigher_init(Weigher *self, PyObject *args, PyObject *kwds)
{
    PyObject *cache, *miss, *word_weights, *stem_weights, *pair_ids, *pair_weights, *answers;
    Py_ssize_t limit, words, stems;
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
    self->word_stamp = scan_zeros(words);
    self->stem_stamp = scan_zeros(stems);
    if (self->word_stamp == NULL || self->stem_stamp == NULL || build_pairs(self, pair_ids, pair_weights, words) < 0) {
        return -1;
    }
    self->words = words;
    self->stems = stems;
    self->bias[0] = b0;
    self->bias[1] = b1;
    self->bias[2] = b2;
    self->threshold = threshold;
    self->limit = limit;
    Py_INCREF(answers);
    self->names = answers;
    scan_front_free(self->front); /* __init__ called again */
    self->front = scan_front_new();
    if (self->front == NULL) {
        return -1;
    }
    Py_INCREF(cache);
    Py_XSETREF(self->cache, cache);
    Py_INCREF(miss);
    Py_XSETREF(self->miss, miss);
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

/* Each word's weights once, and each pair of neighbouring words' once, in first-appearance order. */
static void
sum_words_and_pairs(Weigher *self, const Gathered *g, uint32_t stamp, double *words, double *pairs)
{
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
}

/* Each stem's weights once, in first-appearance order. */
static void
sum_stems(Weigher *self, const Gathered *g, uint32_t stamp, double *stems)
{
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
}

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
    uint32_t stamp = scan_next_stamp(&self->stamp, arrays, sizes, 2);
    if (stamp == 1) { /* a fresh round of stamps: pairs forget theirs too */
        for (uint64_t at = 0; at <= self->pair_mask; at++) {
            self->pairs[at].stamp = 0;
        }
    }
    /* Each sum in the order Python's reference adds it: words, stems and pairs each by first
     * appearance, then bias + words, + stems, + pairs (so both give the same float). */
    double words[MODELS] = {0.0, 0.0, 0.0}, stems[MODELS] = {0.0, 0.0, 0.0}, pairs[MODELS] = {0.0, 0.0, 0.0};
    sum_words_and_pairs(self, g, stamp, words, pairs);
    sum_stems(self, g, stamp, stems);
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
    if (scan_gather_text(&g, self->front, self->cache, self->miss, self->limit, text) < 0) {
        return NULL;
    }
    int answer = weigh(self, &g);
    scan_gathered_release(&g);
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

PyTypeObject WeigherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chatserver.crisis._scan.Weigher",
    .tp_doc = PyDoc_STR("The second opinion's word pass (see chatserver/crisis/opinion.py)."),
    .tp_basicsize = sizeof(Weigher),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Weigher_init,
    .tp_dealloc = (destructor)Weigher_dealloc,
    .tp_traverse = (traverseproc)Weigher_traverse,
    .tp_clear = (inquiry)Weigher_clear,
    .tp_methods = Weigher_methods,
    .tp_members = Weigher_members,
};
