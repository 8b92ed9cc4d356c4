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
 * typed, and kept in a bounded dict as a small packed `bytes` entry of unsigned 32-bit ints (and,
 * for the words met lately, in a table found straight from the text's characters, `FrontSlot`):
 *
 *   index entry:   flags, n_patterns, n_groups, pattern ids..., need-group ids...
 *                  (flags: a count in the low 16 bits, hint bits above; see Scanner.triggered)
 *   opinion entry: opens_gate, n_words, n_stems, word ids (UNKNOWN if unweighed)..., stem ids...
 *
 * "Seen in this message" is a stamp per pattern, group, word, stem and pair: a message bumps the
 * stamp instead of clearing anything. The GIL is held throughout; Python code (the miss callable)
 * runs only while entries are gathered, before any stamp is touched.
 */
#include "_scan.h"

/* ---- shared: a text's words and their entries ---------------------------------------------- */

FrontSlot *
scan_front_new(void)
{
    FrontSlot *front = PyMem_Calloc(FRONT_SLOTS, sizeof(FrontSlot));
    if (front == NULL) {
        PyErr_NoMemory();
    }
    return front;
}

void
scan_front_free(FrontSlot *front)
{
    if (front == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < FRONT_SLOTS; i++) {
        Py_XDECREF(front[i].word);
        Py_XDECREF(front[i].entry);
    }
    PyMem_Free(front);
}

/* FNV-1a over the word's code points: the slot, and a quick first test of the word in it. */
static inline uint64_t
word_hash(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (Py_ssize_t i = start; i < end; i++) {
        h = (h ^ PyUnicode_READ(kind, data, i)) * 0x100000001b3u;
    }
    return h;
}

/* Whether `word` (a str) is text[start:end]. */
static inline int
same_word(PyObject *word, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (PyUnicode_GET_LENGTH(word) != n) {
        return 0;
    }
    int word_kind = PyUnicode_KIND(word);
    const void *word_data = PyUnicode_DATA(word);
    if (word_kind == kind) {
        return memcmp(word_data, (const char *)data + start * kind, n * kind) == 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_READ(word_kind, word_data, i) != PyUnicode_READ(kind, data, start + i)) {
            return 0;
        }
    }
    return 1;
}

/* The entry of the word text[start:end] from the dict `cache`, computed with `miss` when it is not
 * there: a new reference, checked against its counts, or NULL with an exception. */
static PyObject *
entry_from_dict(PyObject *cache, PyObject *miss, Py_ssize_t limit, PyObject *word)
{
    PyObject *entry = PyDict_GetItemWithError(cache, word);
    if (entry != NULL) {
        Py_INCREF(entry);
        return entry;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (PyDict_GET_SIZE(cache) >= limit) {
        PyDict_Clear(cache);
    }
    entry = PyObject_CallOneArg(miss, word);
    if (entry == NULL) {
        return NULL;
    }
    if (!PyBytes_Check(entry) || PyBytes_GET_SIZE(entry) < 12 || PyBytes_GET_SIZE(entry) % 4) {
        Py_DECREF(entry);
        PyErr_SetString(PyExc_TypeError, "a word's entry must be packed uint32 bytes");
        return NULL;
    }
    if (PyDict_SetItem(cache, word, entry) < 0) {
        Py_DECREF(entry);
        return NULL;
    }
    return entry;
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

/* How many words `str.split()` finds in the text. */
static Py_ssize_t
count_words(int kind, const void *data, Py_ssize_t n)
{
    Py_ssize_t words = 0;
    int inside = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int space = Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i));
        words += !space && !inside;
        inside = !space;
    }
    return words;
}

int
scan_gather_text(Gathered *g, FrontSlot *front, PyObject *cache, PyObject *miss, Py_ssize_t limit,
                 PyObject *text)
{
    if (cache == NULL || front == NULL) {
        PyErr_SetString(PyExc_TypeError, "not initialised");
        return -1;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "text must be str");
        return -1;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t words = count_words(kind, data, length);
    g->n = 0;
    g->entries = words <= STACK_WORDS ? g->stack : PyMem_Malloc(words * sizeof(PyObject *));
    if (g->entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t i = 0;
    while (g->n < words) {
        while (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        Py_ssize_t start = i;
        while (i < length && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) {
            i++;
        }
        uint64_t hash = word_hash(kind, data, start, i);
        FrontSlot *slot = &front[hash & (FRONT_SLOTS - 1)];
        PyObject *entry;
        if (slot->word != NULL && slot->hash == hash && same_word(slot->word, kind, data, start, i)) {
            entry = slot->entry;
            Py_INCREF(entry);
        }
        else {
            /* Python code (the miss callable) may run here: nothing of `front` is held across it. */
            PyObject *word = PyUnicode_Substring(text, start, i);
            entry = word == NULL ? NULL : entry_from_dict(cache, miss, limit, word);
            if (entry == NULL || entry_ints(entry) == NULL) {
                Py_XDECREF(word);
                Py_XDECREF(entry);
                scan_gathered_release(g);
                return -1;
            }
            slot = &front[hash & (FRONT_SLOTS - 1)];
            PyObject *old_word = slot->word, *old_entry = slot->entry;
            Py_INCREF(entry);
            slot->hash = hash;
            slot->word = word; /* the reference made above */
            slot->entry = entry;
            Py_XDECREF(old_word);
            Py_XDECREF(old_entry);
        }
        g->entries[g->n++] = entry;
    }
    return 0;
}

void
scan_gathered_release(Gathered *g)
{
    release(g->entries, g->n);
    if (g->entries != g->stack) {
        PyMem_Free(g->entries);
    }
    g->n = 0;
    g->entries = g->stack;
}

/* Read a bytes object of native uint32s into a fresh array (NULL and an exception on error). */
uint32_t *
scan_copy_uints(PyObject *data, Py_ssize_t *count)
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

uint32_t *
scan_zeros(Py_ssize_t count)
{
    uint32_t *out = PyMem_Calloc(count + 1, sizeof(uint32_t));
    if (out == NULL) {
        PyErr_NoMemory();
    }
    return out;
}
uint32_t
scan_next_stamp(uint32_t *stamp, uint32_t **arrays, const Py_ssize_t *sizes, int count)
{
    if (++*stamp == 0) { /* wrapped after 2**32 messages: forget every old stamp */
        for (int i = 0; i < count; i++) {
            memset(arrays[i], 0, (sizes[i] + 1) * sizeof(uint32_t));
        }
        *stamp = 1;
    }
    return *stamp;
}

static PyMethodDef scan_functions[] = {
    {"word_spans", (PyCFunction)scan_word_spans, METH_O, scan_word_spans_doc},
    {"read_around", (PyCFunction)(void (*)(void))scan_read_around, METH_FASTCALL, scan_read_around_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- module ------------------------------------------------------------------------------------ */

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "chatserver.crisis._scan",
    .m_doc = PyDoc_STR("The crisis recogniser's per-message word passes in C (see _scan.c, _scan_index.c, _scan_opinion.c, _scan_reading.c)."),
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
        PyModule_AddIntConstant(module, "UNKNOWN", (long)UNKNOWN) < 0 ||
        PyModule_AddIntConstant(module, "NEGATED", READ_NEGATED) < 0 ||
        PyModule_AddIntConstant(module, "SOMEONE_ELSE", READ_SOMEONE_ELSE) < 0 ||
        PyModule_AddIntConstant(module, "NEGATION_WORDS", NEGATION_WORDS) < 0 ||
        PyModule_AddIntConstant(module, "SUBJECT_WORDS", SUBJECT_WORDS) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
