/* The pattern index's word pass (chatserver/crisis/index.py): which patterns a message may match. */
#include "_scan.h"

/* ---- Scanner: the pattern index ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *cache;
    FrontSlot *front; /* the words met lately, before `cache` */
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

/* The cache and the miss callable (a bound method of the Python object that owns this one) make
 * a reference cycle: the collector must see it, or every index or model dropped (a rooms.yaml
 * reload, check-rooms) would stay in memory. */
static int
Scanner_traverse(Scanner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cache);
    Py_VISIT(self->miss);
    return 0;
}

static int
Scanner_clear(Scanner *self)
{
    Py_CLEAR(self->cache);
    Py_CLEAR(self->miss);
    return 0;
}

static void
Scanner_dealloc(Scanner *self)
{
    PyObject_GC_UnTrack(self);
    Scanner_clear(self);
    scan_front_free(self->front);
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
    self->need_start = scan_copy_uints(starts, &count);
    if (self->need_start == NULL) {
        return -1;
    }
    if (count != patterns + 1) {
        PyErr_SetString(PyExc_ValueError, "need_start must hold patterns + 1 offsets");
        return -1;
    }
    self->need_ids = scan_copy_uints(ids, &self->need_count);
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
    self->pattern_stamp = scan_zeros(patterns);
    self->group_stamp = scan_zeros(groups);
    if (self->pattern_stamp == NULL || self->group_stamp == NULL) {
        return -1;
    }
    self->patterns = patterns;
    self->groups = groups;
    self->limit = limit;
    self->obfuscated_at = obfuscated_at;
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


PyDoc_STRVAR(Scanner_triggered_doc,
             "triggered(text) -> (found, obfuscation)\n\n"
             "The patterns anchored by a word of `text` whose need groups are all met by its words, and,\n"
             "when its words' counts reach `obfuscated_at`, the hint bits of what deobfuscating may\n"
             "change (else 0): what `Index.triggered` computes in Python.");

static PyObject *
Scanner_triggered(Scanner *self, PyObject *text)
{
    Gathered g;
    if (scan_gather_text(&g, self->front, self->cache, self->miss, self->limit, text) < 0) {
        return NULL;
    }
    uint32_t *arrays[2] = {self->pattern_stamp, self->group_stamp};
    Py_ssize_t sizes[2] = {self->patterns, self->groups};
    uint32_t stamp = scan_next_stamp(&self->stamp, arrays, sizes, 2);
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
    scan_gathered_release(&g);
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

PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "chatserver.crisis._scan.Scanner",
    .tp_doc = PyDoc_STR("The pattern index's word pass (see chatserver/crisis/index.py)."),
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
    .tp_members = Scanner_members,
};
