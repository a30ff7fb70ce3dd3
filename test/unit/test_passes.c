/* test_passes.c — unit tests for the pass manager and the canonicalize, cse
 * and dce passes, on IR built with the builder API (no parser needed).
 * Every pipeline runs with verify_each on.  Prints `N passed, M failed` last. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "passes.h"

#include "tt.h"

/* ------------------------------------------------------------ a tiny builder */

static TirModule *M;
static TirFunc *F;
static TirDiag *D;

static void begin(void) {
  M = tir_module_new();
  F = tir_func_new(M, "main", TIR_LOC_UNKNOWN);
}
static void end(void) {
  tir_module_free(M);
  M = NULL;
}

/* ty(TIR_F32, "2,3"), ty(TIR_F16, "B,T,64"), ty(TIR_F32, "") for a scalar. */
static TirType ty(TirDType dt, const char *dims) {
  TirType t = {.dtype = dt};
  for (const char *p = dims; *p;) {
    const char *e = p;
    while (*e && *e != ',') e++;
    if (*p >= '0' && *p <= '9') t.dims[t.rank++] = tir_dim_const(M, strtoll(p, NULL, 10));
    else t.dims[t.rank++] = tir_dim_sym(M, p, (size_t)(e - p));
    p = *e ? e + 1 : e;
  }
  return t;
}

static TirValue *arg(const char *name, TirType t) { return tir_func_add_arg(F, name, &t); }

/* Creates an op (attributes to be set by the caller, then fin()). */
static TirOp *mk(TirOpKind k, int n, ...) {
  TirValue *v[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) v[i] = va_arg(ap, TirValue *);
  va_end(ap);
  return tir_op_new(M, k, v, n, TIR_LOC_UNKNOWN);
}

static TirValue *fin(TirOp *op, const char *name) {
  tir_op_append(F, op);
  TirStatus st = tir_infer_op(M, op, D);
  if (st != TIR_OK) { /* a broken test, not a pass failure; counted once */
    fprintf(stderr, "  infer failed for %s\n", tir_op_schema(op->kind)->name);
    tt_failed++;
  }
  op->result->name = name;
  return op->result;
}

static TirValue *un(TirOpKind k, TirValue *x) { return fin(mk(k, 1, x), NULL); }
static TirValue *bin(TirOpKind k, TirValue *a, TirValue *b) { return fin(mk(k, 2, a, b), NULL); }

static TirValue *cst(TirDType dt, double v) {
  TirOp *op = tir_const_scalar_new(M, dt, v, TIR_LOC_UNKNOWN);
  tir_op_append(F, op);
  return op->result;
}

static TirValue *cst_data(TirType t, const void *data) {
  TirOp *op = tir_const_new(M, &t, data, TIR_LOC_UNKNOWN);
  tir_op_append(F, op);
  return op->result;
}

static TirValue *transpose(TirValue *x, int a, int b) {
  TirOp *op = mk(TIR_OP_TRANSPOSE, 1, x);
  tir_op_set_int(op, "dim0", a);
  tir_op_set_int(op, "dim1", b);
  return fin(op, NULL);
}

static TirValue *permute(TirValue *x, int n, const int64_t *p) {
  TirOp *op = mk(TIR_OP_PERMUTE, 1, x);
  tir_op_set_ints(op, "dims", p, n);
  return fin(op, NULL);
}

static TirValue *reshape(TirValue *x, TirType t) {
  TirOp *op = mk(TIR_OP_RESHAPE, 1, x);
  tir_op_set_dims(op, "shape", t.dims, t.rank);
  return fin(op, NULL);
}

static TirValue *cast(TirValue *x, TirDType dt) {
  TirOp *op = mk(TIR_OP_CAST, 1, x);
  tir_op_set_dtype(op, "dtype", dt);
  return fin(op, NULL);
}

static TirValue *full(TirType t, double v) {
  TirOp *op = mk(TIR_OP_FULL, 0);
  tir_op_set_dims(op, "shape", t.dims, t.rank);
  tir_op_set_scalar(op, "value", (TirScalar){.kind = TIR_SCALAR_FLOAT, .f = v});
  tir_op_set_dtype(op, "dtype", t.dtype);
  return fin(op, NULL);
}

static TirValue *dropout(TirValue *x, double p, bool training) {
  TirOp *op = mk(TIR_OP_DROPOUT, 1, x);
  tir_op_set_float(op, "p", p);
  tir_op_set_bool(op, "training", training);
  return fin(op, NULL);
}

static void ret(int n, ...) {
  TirValue *v[32];
  TirType t[32];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    v[i] = va_arg(ap, TirValue *);
    t[i] = v[i]->type;
  }
  va_end(ap);
  tir_op_append(F, tir_op_new(M, TIR_OP_RETURN, v, n, TIR_LOC_UNKNOWN));
  tir_func_set_results(F, t, n);
}

static TirValue *retval(int i) { return tir_func_return(F)->operands[i].value; }

static int count(TirOpKind k) {
  int n = 0;
  for (TirOp *op = F->first; op; op = op->next) n += op->kind == k;
  return n;
}
static int nops(void) {
  int n = 0;
  for (TirOp *op = F->first; op; op = op->next) n++;
  return n;
}

static TirStatus run(const char *passes) {
  TirPassOptions o = {.diag = D, .target = "cpu", .arch = "sm_80", .verify_each = true};
  CHECK(tir_verify_module(M, D) == TIR_OK);
  return tir_run_pipeline(M, passes, &o);
}

static double scalar_of(const TirValue *v) {
  double d = NAN;
  CHECK(tir_value_const_scalar(v, &d));
  return d;
}

/* ------------------------------------------------------------ canonicalize */

static void test_permutes(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "2,3,4"));
  TirValue *a = transpose(transpose(x, 0, 1), 0, 1);           /* vanishes */
  TirValue *b = transpose(transpose(x, 0, 1), 1, 2);           /* one permute */
  int64_t id[] = {0, 1, 2}, p1[] = {2, 0, 1}, p2[] = {1, 2, 0};
  TirValue *c = permute(x, 3, id);                             /* identity */
  TirValue *d = permute(permute(x, 3, p1), 3, p2);             /* inverse pair */
  TirValue *e = transpose(x, -1, 2);                           /* dim with itself */
  ret(5, a, b, c, d, e);
  CHECK(run("canonicalize") == TIR_OK);
  CHECK(retval(0) == x && retval(2) == x && retval(3) == x && retval(4) == x);
  TirOp *bp = retval(1)->def;
  CHECK(bp && bp->kind == TIR_OP_PERMUTE && bp->operands[0].value == x);
  if (bp && bp->kind == TIR_OP_PERMUTE) {
    /* t = x.transpose(0,1): [3,2,4]; t.transpose(1,2): [3,4,2] = x.permute(1,2,0) */
    const TirAttr *pd = tir_op_attr_c(bp, "dims");
    CHECK(pd->ints.n == 3 && pd->ints.v[0] == 1 && pd->ints.v[1] == 2 && pd->ints.v[2] == 0);
  }
  CHECK(count(TIR_OP_TRANSPOSE) == 0 && count(TIR_OP_PERMUTE) == 1);
  end();
}

static void test_reshapes_and_views(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "B,T,64"));
  TirValue *r = reshape(reshape(reshape(x, ty(TIR_F32, "B,T,8,8")), ty(TIR_F32, "B,T,2,4,8")),
                        ty(TIR_F32, "B,T,4,16"));
  TirValue *back = reshape(reshape(x, ty(TIR_F32, "B,T,8,8")), ty(TIR_F32, "B,T,64"));
  TirValue *same = reshape(x, ty(TIR_F32, "B,T,64"));
  TirOp *u = mk(TIR_OP_UNSQUEEZE, 1, x);
  tir_op_set_int(u, "dim", 1);
  TirOp *s = mk(TIR_OP_SQUEEZE, 1, fin(u, NULL));
  tir_op_set_int(s, "dim", 1);
  TirValue *sq = fin(s, NULL);
  TirValue *cont = un(TIR_OP_CLONE, un(TIR_OP_CONTIGUOUS, x));
  TirOp *ex = mk(TIR_OP_EXPAND, 1, x);
  tir_op_set_dims(ex, "shape", x->type.dims, 3);
  TirValue *exv = fin(ex, NULL);
  TirOp *sl = mk(TIR_OP_SLICE, 1, x);
  tir_op_set_int(sl, "dim", 1);
  tir_op_set_dim(sl, "start", tir_dim_const(M, 0));
  tir_op_set_dim(sl, "end", tir_dim_sym(M, "T", 1));
  TirValue *slv = fin(sl, NULL);
  TirOp *sl2 = mk(TIR_OP_SLICE, 1, x); /* a real cut: stays */
  tir_op_set_int(sl2, "dim", 2);
  tir_op_set_dim(sl2, "start", tir_dim_const(M, 1));
  TirValue *slv2 = fin(sl2, NULL);
  ret(8, r, back, same, sq, cont, exv, slv, slv2);
  CHECK(run("canonicalize") == TIR_OK);
  TirOp *rd = retval(0)->def;
  CHECK(rd && rd->kind == TIR_OP_RESHAPE && rd->operands[0].value == x);
  for (int i = 1; i <= 6; i++) CHECK(retval(i) == x);
  CHECK(retval(7)->def && retval(7)->def->kind == TIR_OP_SLICE);
  CHECK(count(TIR_OP_RESHAPE) == 1 && nops() == 3);
  end();

  /* A -1 in the outer shape survives composition. */
  begin();
  x = arg("x", ty(TIR_F32, "B,T,64"));
  TirOp *o = mk(TIR_OP_RESHAPE, 1, reshape(x, ty(TIR_F32, "B,T,8,8")));
  const TirDim *sh[] = {tir_dim_const(M, -1), tir_dim_const(M, 64)};
  tir_op_set_dims(o, "shape", sh, 2);
  ret(1, fin(o, "flat"));
  CHECK(run("canonicalize") == TIR_OK);
  rd = retval(0)->def;
  CHECK(rd && rd->kind == TIR_OP_RESHAPE && rd->operands[0].value == x);
  CHECK(rd && tir_op_attr_c(rd, "shape")->dims.v[0] == tir_dim_const(M, -1));
  CHECK(retval(0)->name && strcmp(retval(0)->name, "flat") == 0);
  end();
}

static void test_casts(void) {
  begin();
  TirValue *h = arg("h", ty(TIR_F16, "4"));
  TirValue *f = arg("f", ty(TIR_F32, "4"));
  TirValue *i = arg("i", ty(TIR_I8, "4"));
  TirValue *a = cast(cast(h, TIR_F32), TIR_F16);  /* -> h */
  TirValue *b = cast(cast(f, TIR_F16), TIR_F32);  /* lossy: stays */
  TirValue *c = cast(cast(h, TIR_F32), TIR_F64);  /* -> cast(h, f64) */
  TirValue *d = cast(cast(i, TIR_I32), TIR_I8);   /* -> i */
  TirValue *e = cast(cast(i, TIR_F16), TIR_I8);   /* i8 fits f16 exactly -> i */
  TirValue *g = cast(cast(h, TIR_BF16), TIR_F16); /* f16 -> bf16 loses: stays */
  TirValue *s = cast(f, TIR_F32);                 /* same dtype -> f */
  ret(7, a, b, c, d, e, g, s);
  CHECK(run("canonicalize") == TIR_OK);
  CHECK(retval(0) == h && retval(3) == i && retval(4) == i && retval(6) == f);
  TirOp *bo = retval(1)->def;
  CHECK(bo && bo->kind == TIR_OP_CAST && bo->operands[0].value->def &&
        bo->operands[0].value->def->kind == TIR_OP_CAST);
  TirOp *co = retval(2)->def;
  CHECK(co && co->kind == TIR_OP_CAST && co->operands[0].value == h);
  CHECK(retval(5)->def && retval(5)->def->operands[0].value != h);
  end();
}

static void test_arith_identities(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "2,3"));
  TirValue *v = arg("v", ty(TIR_F32, "3"));
  TirValue *one = cst(TIR_F32, 1), *zero = cst(TIR_F32, 0);
  TirValue *a = bin(TIR_OP_MUL, x, one);
  TirValue *b = bin(TIR_OP_MUL, one, x); /* constant first */
  TirValue *c = bin(TIR_OP_ADD, x, zero);
  TirValue *d = bin(TIR_OP_SUB, x, zero);
  TirValue *e = bin(TIR_OP_DIV, x, one);
  float ones23[6] = {1, 1, 1, 1, 1, 1};
  TirValue *bones = cst_data(ty(TIR_F32, "2,3"), ones23);
  TirValue *f = bin(TIR_OP_MUL, v, bones); /* broadcasts v: stays */
  TirValue *g = bin(TIR_OP_SUB, zero, x);  /* not an identity: stays */
  TirValue *n2 = un(TIR_OP_NEG, un(TIR_OP_NEG, x));
  TirValue *mx = bin(TIR_OP_MAXIMUM, x, x);
  ret(9, a, b, c, d, e, f, g, n2, mx);
  CHECK(run("canonicalize") == TIR_OK);
  for (int i = 0; i < 5; i++) CHECK(retval(i) == x);
  CHECK(retval(5)->def && retval(5)->def->kind == TIR_OP_MUL);
  CHECK(retval(6)->def && retval(6)->def->kind == TIR_OP_SUB &&
        retval(6)->def->operands[1].value == x);
  CHECK(retval(7) == x && retval(8) == x);
  end();

  /* Canonical order: the constant goes second. */
  begin();
  x = arg("x", ty(TIR_F32, "2,3"));
  TirValue *k = cst(TIR_F32, 0.125);
  TirValue *m = bin(TIR_OP_MUL, k, x);
  TirValue *lt = bin(TIR_OP_LT, k, x);
  ret(2, m, lt);
  CHECK(run("canonicalize") == TIR_OK);
  CHECK(retval(0)->def->operands[0].value == x && retval(0)->def->operands[1].value == k);
  CHECK(retval(1)->def->kind == TIR_OP_GT && retval(1)->def->operands[0].value == x);
  end();
}

static void test_dropout(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "8"));
  TirValue *a = dropout(x, 0.1, false);
  TirValue *b = dropout(x, 0.0, true);
  TirValue *c = dropout(x, 0.1, true);
  ret(3, a, b, c);
  CHECK(run("canonicalize") == TIR_OK);
  CHECK(retval(0) == x && retval(1) == x);
  CHECK(retval(2)->def && retval(2)->def->kind == TIR_OP_DROPOUT);
  end();
}

static void test_folding(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "2,8"));
  TirValue *s = un(TIR_OP_SQRT, cst(TIR_F32, 64));
  s->name = "s";
  TirValue *y = bin(TIR_OP_DIV, x, s);
  ret(1, y);
  CHECK(run("canonicalize") == TIR_OK);
  TirValue *dv = retval(0)->def->operands[1].value;
  CHECK(dv->def->kind == TIR_OP_CONST && scalar_of(dv) == 8.0);
  CHECK(dv->name && strcmp(dv->name, "s") == 0);
  CHECK(nops() == 3); /* const, div, return: the 64 is gone */
  end();

  /* f16 rounds after every op: 2048 + 1 = 2048 in f16. */
  begin();
  TirValue *h = bin(TIR_OP_ADD, cst(TIR_F16, 2048), cst(TIR_F16, 1));
  TirValue *i8 = bin(TIR_OP_ADD, cst(TIR_I8, 127), cst(TIR_I8, 1)); /* wraps */
  TirValue *cmp = bin(TIR_OP_LT, cst(TIR_F32, 1), cst(TIR_F32, 2));
  TirValue *nan_max = bin(TIR_OP_MAXIMUM, cst(TIR_F32, NAN), cst(TIR_F32, 1));
  TirValue *cst_i = cast(cst(TIR_F32, -2.75), TIR_I32);
  TirValue *ge = un(TIR_OP_GELU, cst(TIR_F32, 1.0));
  ret(6, h, i8, cmp, nan_max, cst_i, ge);
  CHECK(run("canonicalize") == TIR_OK);
  CHECK(scalar_of(retval(0)) == 2048.0 && retval(0)->type.dtype == TIR_F16);
  CHECK(scalar_of(retval(1)) == -128.0);
  CHECK(scalar_of(retval(2)) == 1.0 && retval(2)->type.dtype == TIR_BOOL);
  CHECK(isnan(scalar_of(retval(3))));
  CHECK(scalar_of(retval(4)) == -2.0);
  CHECK(fabs(scalar_of(retval(5)) - 0.8413447460685429) < 1e-6);
  end();

  /* Shapes of constants, full, where, broadcasting. */
  begin();
  float d6[6] = {0, 1, 2, 3, 4, 5};
  TirValue *c6 = cst_data(ty(TIR_F32, "2,3"), d6);
  TirValue *t = transpose(c6, 0, 1); /* [[0,3],[1,4],[2,5]] */
  TirValue *r = reshape(c6, ty(TIR_F32, "6"));
  TirValue *fu = full(ty(TIR_F32, "2,2"), -INFINITY);
  TirValue *big = full(ty(TIR_F32, "100000000"), 0); /* must stay */
  TirValue *sym = full(ty(TIR_F32, "T,4"), 1);        /* symbolic: stays */
  TirValue *bc = bin(TIR_OP_ADD, c6, cst(TIR_F32, 10));
  ret(6, t, r, fu, big, sym, bc);
  CHECK(run("canonicalize") == TIR_OK);
  const TirOp *tc = retval(0)->def;
  CHECK(tc->kind == TIR_OP_CONST && tir_load_f64(TIR_F32, tc->data, 1) == 3.0 &&
        tir_load_f64(TIR_F32, tc->data, 4) == 2.0);
  CHECK(retval(1)->def->kind == TIR_OP_CONST);
  CHECK(retval(2)->def->kind == TIR_OP_CONST &&
        tir_load_f64(TIR_F32, retval(2)->def->data, 3) == -INFINITY);
  CHECK(retval(3)->def->kind == TIR_OP_FULL && retval(4)->def->kind == TIR_OP_FULL);
  CHECK(retval(5)->def->kind == TIR_OP_CONST &&
        tir_load_f64(TIR_F32, retval(5)->def->data, 5) == 15.0);
  end();
}

static void test_concat(void) {
  begin();
  TirValue *a = arg("a", ty(TIR_F32, "2,3"));
  TirValue *b = arg("b", ty(TIR_F32, "2,0"));
  TirValue *c = arg("c", ty(TIR_F32, "2,5"));
  TirValue *l = arg("l", ty(TIR_F32, "0")); /* legacy empty */
  TirOp *k = mk(TIR_OP_CONCAT, 4, a, b, c, l);
  tir_op_set_int(k, "dim", 1);
  TirValue *kv = fin(k, "cat");
  TirOp *k2 = mk(TIR_OP_CONCAT, 2, b, a);
  tir_op_set_int(k2, "dim", -1);
  TirValue *k2v = fin(k2, NULL);
  TirOp *k3 = mk(TIR_OP_CONCAT, 2, b, b);
  tir_op_set_int(k3, "dim", 1);
  TirValue *k3v = fin(k3, NULL);
  ret(3, kv, k2v, k3v);
  CHECK(run("canonicalize") == TIR_OK);
  TirOp *o = retval(0)->def;
  CHECK(o && o->kind == TIR_OP_CONCAT && o->n_operands == 2 && o->operands[0].value == a &&
        o->operands[1].value == c);
  CHECK(retval(1) == a && retval(2) == b);
  end();
}

/* ------------------------------------------------------------ cse, dce */

static void test_cse(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "4")), *y = arg("y", ty(TIR_F32, "4"));
  TirValue *a1 = bin(TIR_OP_ADD, x, y), *a2 = bin(TIR_OP_ADD, x, y), *a3 = bin(TIR_OP_ADD, y, x);
  TirValue *s1 = bin(TIR_OP_SUB, x, y), *s2 = bin(TIR_OP_SUB, y, x); /* different */
  TirValue *e1 = un(TIR_OP_EXP, a1), *e2 = un(TIR_OP_EXP, a2);       /* chain */
  TirValue *d1 = dropout(x, 0.5, true), *d2 = dropout(x, 0.5, true); /* random */
  TirValue *i1 = dropout(x, 0.5, false), *i2 = dropout(x, 0.5, false);
  TirValue *c1 = cst(TIR_F32, 2), *c2 = cst(TIR_F32, 2), *c3 = cst(TIR_F32, 3);
  TirValue *z1 = cst(TIR_F32, 0.0), *z2 = cst(TIR_F32, -0.0);
  ret(15, a1, a2, a3, s1, s2, e1, e2, d1, d2, i1, i2, c1, c2, c3, z1);
  (void)z2;
  CHECK(run("cse") == TIR_OK);
  CHECK(retval(1) == a1 && retval(2) == a1 && retval(6) == e1);
  CHECK(retval(3) != retval(4));
  CHECK(retval(7) != retval(8));
  CHECK(retval(10) == i1);
  CHECK(retval(12) == c1 && retval(13) != c1);
  CHECK(count(TIR_OP_DROPOUT) == 3);
  /* z2 (unused) is not merged into z1: cse does not remove dead ops and
   * -0.0 differs from 0.0. */
  CHECK(count(TIR_OP_CONST) == 4);
  end();
}

static void test_dce(void) {
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "4"));
  TirValue *dead = un(TIR_OP_EXP, un(TIR_OP_EXP, un(TIR_OP_EXP, x)));
  (void)dead;
  TirValue *live = un(TIR_OP_TANH, x);
  ret(1, live);
  CHECK(nops() == 5);
  CHECK(run("dce") == TIR_OK);
  CHECK(nops() == 2 && retval(0) == live);
  end();
}

/* ------------------------------------------------------------ the manager */

static char *capture(const char *passes, const char *filter, TirStatus *st) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  TirPassOptions o = {.diag = D, .verify_each = true, .dump = f, .dump_filter = filter};
  *st = tir_run_pipeline(M, passes, &o);
  fclose(f);
  return buf;
}

static void test_manager(void) {
  CHECK(tir_pass_count() == TIR_NUM_PASSES && TIR_NUM_PASSES == 6);
  CHECK(tir_pass_find("cse", 3) && strcmp(tir_pass_find("cse", 3)->name, "cse") == 0);
  CHECK(tir_pass_find("cs", 2) == NULL && tir_pass_find("csex", 4) == NULL);
  CHECK(strcmp(tir_default_pipeline(),
               "canonicalize,cse,fuse-attention,simplify-sdpa,canonicalize,cse,dce,select-kernel") == 0);
  CHECK(strcmp(tir_o0_pipeline(), "select-kernel") == 0);
  CHECK(tir_pass_info(-1) == NULL && tir_pass_info(TIR_NUM_PASSES) == NULL);

  begin();
  TirValue *x = arg("x", ty(TIR_F32, "4"));
  un(TIR_OP_EXP, x);
  ret(1, transpose(transpose(x, 0, 0), 0, 0));
  int before = nops();
  TirStatus st;
  char *out = capture("canonicalize,bogus", NULL, &st);
  CHECK(st == TIR_ERR_USAGE && nops() == before && out && !*out);
  free(out);
  out = capture("cse", "nope", &st);
  CHECK(st == TIR_ERR_USAGE && nops() == before);
  free(out);
  out = capture("", NULL, &st);
  CHECK(st == TIR_OK && nops() == before && out && !*out);
  free(out);
  out = capture("cse,dce", "dce", &st);
  CHECK(st == TIR_OK && out && !strstr(out, "IR after cse") &&
        strstr(out, "// ----- IR after dce -----\n"));
  free(out);
  out = capture(tir_default_pipeline(), NULL, &st);
  CHECK(st == TIR_OK && out && strstr(out, "// ----- IR after canonicalize -----\n") &&
        strstr(out, "// ----- IR after cse -----\n") && strstr(out, "// ----- IR after dce -----\n"));
  free(out);
  CHECK(nops() == 1 && retval(0) == x);
  end();
}

/* ------------------------------------------------------------ scale */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_scale(void) {
  enum { N = 100000 };
  begin();
  TirValue *x = arg("x", ty(TIR_F32, "4,4"));
  TirValue *v = x, *w = x;
  for (int i = 0; i < N / 2; i++) v = transpose(v, 0, 1);
  for (int i = 0; i < N / 2; i++) w = un(TIR_OP_NEG, un(TIR_OP_EXP, w)); /* nothing to do */
  TirValue *c = cst(TIR_F32, 1);
  for (int i = 0; i < N / 4; i++) c = bin(TIR_OP_ADD, c, cst(TIR_F32, 1)); /* folds to N/4+1 */
  ret(3, v, w, c);
  double t0 = now();
  CHECK(run(tir_default_pipeline()) == TIR_OK);
  double dt = now() - t0;
  fprintf(stderr, "  scale: %d ops through the default pipeline in %.3f s\n", 2 * N, dt);
  CHECK(dt < 5.0);
  CHECK(retval(0) == x);
  CHECK(scalar_of(retval(2)) == N / 4 + 1);
  end();

  /* A long reshape chain, a value with many users, and a concat of many
   * inputs that all get rewritten: each must stay near-linear. */
  begin();
  x = arg("x", ty(TIR_F32, "6,4"));
  v = x;
  for (int i = 0; i < N / 2; i++) v = reshape(v, ty(TIR_F32, i % 2 ? "6,4" : "2,12"));
  enum { K = 30000 };
  TirValue **parts = malloc(K * sizeof *parts);
  for (int i = 0; i < K; i++) parts[i] = un(TIR_OP_CONTIGUOUS, x);
  TirOp *cat = tir_op_new(M, TIR_OP_CONCAT, parts, K, TIR_LOC_UNKNOWN);
  free(parts);
  TirValue *catv = fin(cat, NULL);
  ret(2, v, catv);
  t0 = now();
  CHECK(run("canonicalize") == TIR_OK);
  dt = now() - t0;
  fprintf(stderr, "  scale: reshape chain, %d users, %d-input concat in %.3f s\n", K, K, dt);
  CHECK(dt < 5.0);
  CHECK(retval(0) == x && retval(1)->def->kind == TIR_OP_CONCAT);
  CHECK(nops() == 2); /* the concat and the return */
  end();
}

int main(void) {
  D = tir_diag_new(stderr, 0);
  test_permutes();
  test_reshapes_and_views();
  test_casts();
  test_arith_identities();
  test_dropout();
  test_folding();
  test_concat();
  test_cse();
  test_dce();
  test_manager();
  test_scale();
  tir_diag_free(D);
  return CHECK_SUMMARY();
}
