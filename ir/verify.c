/* verify.c — the structural verifier run after parsing and after every pass.
 *
 * Checks op list links, SSA definition before use, use-list consistency,
 * operand counts and attribute kinds against the schema, CONST payloads, the
 * single trailing RETURN and its types, and that every stored result type
 * equals a fresh tir_infer_op.  A failure here after a pass is a compiler
 * bug, so errors say "verifier:" and the result is TIR_ERR_INTERNAL.
 * Linear in the number of ops, operands and value ids. */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "ir_internal.h"

typedef struct {
  TirModule *m;
  TirDiag *diag;
  /* mark[id] == stamp: the value with that id is defined (so far) in the
   * function being checked.  One array for the module; the stamp changes per
   * function so nothing is cleared between functions. */
  uint32_t *mark;
  uint32_t stamp;
  int errors;
} Ver;

static void verr(Ver *v, TirLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void verr(Ver *v, TirLoc loc, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tir_diag_error(v->diag, loc, "verifier: %s", buf);
  v->errors++;
}

typedef struct {
  char s[96];
} VName;

/* A value's name for messages: `%name` or `%<id>`. */
static VName vname(const TirValue *val) {
  VName r;
  if (val && val->name) snprintf(r.s, sizeof r.s, "%%%s", val->name);
  else if (val) snprintf(r.s, sizeof r.s, "%%<%u>", (unsigned)val->id);
  else snprintf(r.s, sizeof r.s, "(null)");
  return r;
}


static bool id_ok(Ver *v, uint32_t id) { return id < v->m->next_id; }

/* Defines a value in the current function; false (after reporting) if it is
 * malformed or defined twice. */
static bool define(Ver *v, TirFunc *f, TirValue *val, TirLoc loc) {
  if (val->func != f) {
    verr(v, loc, "value %s does not point back to @%s", vname(val).s, f->name);
    return false;
  }
  if (!id_ok(v, val->id)) {
    verr(v, loc, "value %s has id %u beyond the module's next id %u", vname(val).s,
         (unsigned)val->id, (unsigned)v->m->next_id);
    return false;
  }
  if (v->mark[val->id] == v->stamp) {
    verr(v, loc, "value %s is defined twice (or shares its id)", vname(val).s);
    return false;
  }
  if (val->type.rank < 0 || val->type.rank > TIR_MAX_RANK || val->type.dtype >= TIR_NUM_DTYPES) {
    verr(v, loc, "value %s has a malformed type (rank %d, dtype %d)", vname(val).s, val->type.rank,
         (int)val->type.dtype);
    return false;
  }
  for (int i = 0; i < val->type.rank; i++)
    if (!val->type.dims[i]) {
      verr(v, loc, "value %s has a null dim %d in its type", vname(val).s, i);
      return false;
    }
  v->mark[val->id] = v->stamp;
  return true;
}

/* Schema conformance of one op's operand count and attributes. */
static bool check_schema(Ver *v, TirOp *op, const TirOpSchema *s) {
  bool ok = true;
  if (op->n_operands < s->min_operands ||
      (s->max_operands >= 0 && op->n_operands > s->max_operands)) {
    verr(v, op->loc, "%s has %d operands; the schema allows %d..%d", s->name, op->n_operands,
         s->min_operands, s->max_operands);
    ok = false;
  }
  if (op->n_operands > 0 && !op->operands) {
    verr(v, op->loc, "%s has a null operand array", s->name);
    return false;
  }
  if (s->nattrs > 0 && !op->attrs) {
    verr(v, op->loc, "%s has a null attribute array", s->name);
    return false;
  }
  for (int i = 0; i < s->nattrs; i++) {
    const TirAttrSchema *as = &s->attrs[i];
    const TirAttr *a = &op->attrs[i];
    bool bad = false;
    if (a->kind == TIR_ATTR_NONE) {
      if (!as->optional) {
        verr(v, op->loc, "%s is missing its attribute '%s'", s->name, as->name);
        ok = false;
      }
      continue;
    }
    if (a->kind != as->kind) {
      verr(v, op->loc, "%s attribute '%s' has kind %d, the schema says %d", s->name, as->name,
           (int)a->kind, (int)as->kind);
      ok = false;
      continue;
    }
    switch (a->kind) {
    case TIR_ATTR_STR: bad = !a->s; break;
    case TIR_ATTR_DTYPE: bad = a->dtype >= TIR_NUM_DTYPES; break;
    case TIR_ATTR_INTS: bad = a->ints.n < 0 || (a->ints.n > 0 && !a->ints.v); break;
    case TIR_ATTR_DIM: bad = !a->dim; break;
    case TIR_ATTR_DIMS:
      bad = a->dims.n < 0 || (a->dims.n > 0 && !a->dims.v);
      for (int j = 0; !bad && j < a->dims.n; j++) bad = !a->dims.v[j];
      break;
    default: break;
    }
    if (bad) {
      verr(v, op->loc, "%s attribute '%s' holds a malformed value", s->name, as->name);
      ok = false;
    }
  }
  return ok;
}

/* Operands: owner back-pointers and definition before use. */
static bool check_operands(Ver *v, TirFunc *f, TirOp *op, const TirOpSchema *s) {
  bool ok = true;
  for (int i = 0; i < op->n_operands; i++) {
    TirOperand *o = &op->operands[i];
    TirValue *val = o->value;
    if (o->owner != op) {
      verr(v, op->loc, "%s operand %d does not point back to its op", s->name, i);
      ok = false;
    }
    if (!val) {
      verr(v, op->loc, "%s operand %d is null", s->name, i);
      ok = false;
    } else if (val->func != f || !id_ok(v, val->id) || v->mark[val->id] != v->stamp) {
      verr(v, op->loc, "%s operand %d (%s) is used before its definition or outside its function",
           s->name, i, vname(val).s);
      ok = false;
    }
  }
  return ok;
}

/* A result: linkage and, for CONST, the payload (inference checks it too,
 * but the verifier must not depend on it for memory safety of later passes). */
static bool check_result(Ver *v, TirFunc *f, TirOp *op, const TirOpSchema *s) {
  if (op->kind == TIR_OP_RETURN) {
    if (op->result) {
      verr(v, op->loc, "return has a result value");
      return false;
    }
    return true;
  }
  TirValue *r = op->result;
  if (!r) {
    verr(v, op->loc, "%s has no result value", s->name);
    return false;
  }
  if (r->def != op || r->arg_index != -1) {
    verr(v, op->loc, "%s result %s does not point back to its op", s->name, vname(r).s);
    return false;
  }
  return define(v, f, r, op->loc);
}

/* Re-runs inference and compares; the stored type is restored either way so
 * a failing verifier leaves the IR as it found it (except sdpa's scale,
 * which inference only materializes when absent). */
static void check_inference(Ver *v, TirOp *op, const TirOpSchema *s) {
  TirType saved = op->result->type;
  int before = tir_diag_error_count(v->diag);
  TirStatus st = tir_infer_op(v->m, op, v->diag);
  TirType got = op->result->type;
  op->result->type = saved;
  if (st != TIR_OK || tir_diag_error_count(v->diag) != before) {
    verr(v, op->loc, "%s %s of type %s fails type inference", s->name, vname(op->result).s,
         tstr(&saved).s);
    return;
  }
  if (!tir_type_equal(&saved, &got))
    verr(v, op->loc, "%s %s has type %s but inference gives %s", s->name, vname(op->result).s,
         tstr(&saved).s, tstr(&got).s);
}

/* Each defined value's use list: well linked, every entry an operand slot of
 * an op of this function that names this value.  Together with the count
 * check in verify_func this proves every operand is in its value's list
 * exactly once (a slot can only be in the list of the value it names, and
 * consistent prev links rule out repeats within a list). */
static long check_uses(Ver *v, TirFunc *f, TirValue *val, long max_uses) {
  long n = 0;
  const TirOperand *prev = NULL;
  for (const TirOperand *u = val->first_use; u; prev = u, u = u->next_use) {
    if (++n > max_uses) {
      verr(v, f->loc, "the use list of %s is longer than the operands of @%s (a cycle?)",
           vname(val).s, f->name);
      return -1;
    }
    TirLoc loc = u->owner ? u->owner->loc : f->loc;
    if (u->prev_use != prev) {
      verr(v, loc, "the use list of %s has a broken back link", vname(val).s);
      return -1;
    }
    const TirOp *o = u->owner;
    uintptr_t p = (uintptr_t)u, lo = o ? (uintptr_t)o->operands : 0;
    if (!o || o->func != f || p < lo || p >= lo + (uintptr_t)o->n_operands * sizeof *u ||
        (p - lo) % sizeof *u != 0) {
      verr(v, loc, "the use list of %s holds an operand of a detached or foreign op", vname(val).s);
      return -1;
    }
    if (u->value != val) {
      verr(v, loc, "the use list of %s holds an operand that uses %s", vname(val).s,
           vname(u->value).s);
      return -1;
    }
  }
  return n;
}

static void verify_func(Ver *v, TirFunc *f) {
  int errors0 = v->errors;
  if (f->module != v->m) verr(v, f->loc, "@%s does not point back to its module", f->name);
  if ((f->n_args > 0 && !f->args) || (f->n_results > 0 && !f->result_types)) {
    verr(v, f->loc, "@%s has a null argument or result type array", f->name);
    return;
  }
  for (int i = 0; i < f->n_args; i++) {
    TirValue *a = f->args[i];
    if (!a || a->def || a->arg_index != i) {
      verr(v, f->loc, "argument %d of @%s is malformed", i, f->name);
      return;
    }
    if (!define(v, f, a, f->loc)) return;
  }

  /* Walk the op list.  Checking op->prev against the op we came from also
   * rules out cycles: a cycle must re-enter a visited op, whose prev was
   * already checked to be a different op. */
  long n_operands = 0;
  int n_returns = 0;
  TirOp *prev = NULL, *op = f->first;
  if (!f->first && f->last) {
    verr(v, f->loc, "@%s has a last op but no first op", f->name);
    return;
  }
  for (; op; prev = op, op = op->next) {
    if (op->prev != prev || op->func != f) {
      verr(v, op->loc, "op list of @%s is broken at a %s op", f->name,
           (unsigned)op->kind < TIR_NUM_OPS ? tir_op_schema(op->kind)->name : "(bad kind)");
      return;
    }
    if ((unsigned)op->kind >= TIR_NUM_OPS) {
      verr(v, op->loc, "op of unknown kind %d", (int)op->kind);
      return;
    }
    const TirOpSchema *s = tir_op_schema(op->kind);
    if (!id_ok(v, op->id)) verr(v, op->loc, "%s op has an id beyond the module's next id", s->name);
    if (op->module != v->m) verr(v, op->loc, "%s op does not point back to its module", s->name);
    if (op->kind == TIR_OP_RETURN) {
      n_returns++;
      if (op->next) verr(v, op->loc, "return is not the last op of @%s", f->name);
    }
    bool ok = check_schema(v, op, s);
    if (ok) {
      ok = check_operands(v, f, op, s);
      n_operands += op->n_operands;
    }
    ok = check_result(v, f, op, s) && ok;
    if (op->kind == TIR_OP_CONST && ok) {
      int64_t numel;
      size_t es = tir_dtype_size(op->result->type.dtype);
      if (!tir_type_numel(&op->result->type, &numel) ||
          ((op->data || op->data_bytes) && op->data_bytes != (size_t)numel * es)) {
        verr(v, op->loc, "const %s has a payload of %zu bytes for type %s (which must be static)",
             vname(op->result).s, op->data_bytes, tstr(&op->result->type).s);
        ok = false;
      }
      if (op->data_bytes && !op->data) {
        verr(v, op->loc, "const %s has a size but no payload", vname(op->result).s);
        ok = false;
      }
    }
    if (ok && op->kind != TIR_OP_RETURN) check_inference(v, op, s);
  }
  if (prev != f->last) {
    verr(v, f->loc, "@%s: its last op is not the end of its op list", f->name);
    return;
  }

  TirOp *ret = f->last;
  if (!ret || ret->kind != TIR_OP_RETURN) {
    verr(v, ret ? ret->loc : f->loc, "@%s does not end with a return", f->name);
  } else if (n_returns == 1 && v->errors == errors0) {
    if (ret->n_operands != f->n_results) {
      verr(v, ret->loc, "return has %d values but @%s declares %d results", ret->n_operands,
           f->name, f->n_results);
    } else {
      for (int i = 0; i < f->n_results; i++) {
        const TirType *t = &ret->operands[i].value->type;
        if (!tir_type_equal(t, &f->result_types[i]))
          verr(v, ret->loc, "return value %d (%s) has type %s but @%s declares %s", i,
               vname(ret->operands[i].value).s, tstr(t).s, f->name, tstr(&f->result_types[i]).s);
      }
    }
  }
  if (v->errors != errors0) return; /* lists may be unsafe to walk */

  /* Use lists, from the definitions side. */
  long listed = 0;
  for (int i = 0; i < f->n_args; i++) {
    long n = check_uses(v, f, f->args[i], n_operands);
    if (n < 0) return;
    listed += n;
  }
  for (op = f->first; op; op = op->next) {
    if (!op->result) continue;
    long n = check_uses(v, f, op->result, n_operands);
    if (n < 0) return;
    listed += n;
  }
  if (listed != n_operands)
    verr(v, f->loc, "@%s has %ld operands but its use lists hold %ld entries", f->name, n_operands,
         listed);
}

TirStatus tir_verify_module(TirModule *m, TirDiag *diag) {
  assert(m && diag);
  Ver v = {m, diag, NULL, 0, 0};
  v.mark = calloc(m->next_id ? m->next_id : 1, sizeof *v.mark);
  if (!v.mark) {
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "verifier: out of memory");
    return TIR_ERR_INTERNAL;
  }
  int n = 0;
  for (TirFunc *f = m->first_func; f; f = f->next) {
    if (++n > m->n_funcs) {
      verr(&v, f->loc, "the module's function list is longer than n_funcs (%d)", m->n_funcs);
      break;
    }
    v.stamp++;
    verify_func(&v, f);
  }
  if (n < m->n_funcs)
    verr(&v, TIR_LOC_UNKNOWN, "the module holds %d functions, n_funcs says %d", n, m->n_funcs);
  free(v.mark);
  return v.errors ? TIR_ERR_INTERNAL : TIR_OK;
}
