/* parser.y — the Bison grammar of .tir (spec §1-§3).
 *
 * A pure parser over the reentrant scanner.  Ops have ONE generic rule,
 * `%r = NAME(item, ...) [: TYPE]`, whose items are expressions or
 * `key=expr`; build.c interprets them with the op's schema from ops.def.
 * Actions hand each function header, statement and return to build.c as
 * soon as it is reduced.  A syntax error stops the parse (statements have no
 * terminator to resynchronize on); semantic errors do not.
 */
%code requires {
#include "fe_internal.h"
}

%code provides {
int tir_yylex(TIR_YYSTYPE *lval, TIR_YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include <stdio.h>
#include <string.h>

#define P (tir_yyget_extra(scanner))
#define LOC(l) fe_loc(P, (l).first_line, (l).first_column)
/* A helper returned NULL: it reported an error that ends the parse. */
#define CHECK(x) do { if (!(x)) YYABORT; } while (0)

static void tir_yyerror(TIR_YYLTYPE *loc, yyscan_t scanner, const char *msg);
}

%define api.pure full
%define api.prefix {tir_yy}
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner}
%expect 0

%union { FeNode *node; }

%token FUNC "'func'" RETURN "'return'" ARROW "'->'" TRUE "'true'" FALSE "'false'"
%token <node> IDENT "identifier" VALUE "value" FUNCNAME "function name"
%token <node> STRING "string" INT "integer" FLOAT "number"
%token LEXERROR "invalid token"

%type <node> args arg_list arg results type_list type decl items item_list item
%type <node> expr expr_list value_list

%left '+' '-'
%left '*' '/'
%precedence NEG

%%

module:
    %empty
  | module func
  ;

func:
    head '{' body '}'                { fe_end_func(P, LOC(@4)); }
  ;

head:
    FUNC FUNCNAME '(' args ')' ARROW results  { fe_begin_func(P, $2, $4, $7); }
  ;

args:
    %empty                           { $$ = fe_list(P, LOC(@$)); }
  | arg_list
  ;

arg_list:
    arg                              { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | arg_list ',' arg                 { CHECK($$ = fe_append(P, $1, $3)); }
  ;

arg:
    VALUE ':' type                   { $$ = fe_kv(P, $1, $3); }
  ;

results:
    type                             { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | '(' type_list ')'                { $$ = $2; }
  ;

type_list:
    type                             { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | type_list ',' type               { CHECK($$ = fe_append(P, $1, $3)); }
  ;

type:
    IDENT '[' ']'                    { $$ = fe_type(P, $1, NULL); }
  | IDENT '[' expr_list ']'          { $$ = fe_type(P, $1, $3); }
  ;

body:
    %empty
  | body stmt
  ;

stmt:
    VALUE '=' IDENT '(' items ')' decl { fe_op(P, $1, $3, $5, $7); }
  | RETURN value_list                { fe_return(P, LOC(@1), $2); }
  ;

decl:
    %empty                           { $$ = NULL; }
  | ':' type                         { $$ = $2; }
  ;

items:
    %empty                           { $$ = NULL; }
  | item_list
  ;

item_list:
    item                             { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | item_list ',' item               { CHECK($$ = fe_append(P, $1, $3)); }
  ;

item:
    expr
  | IDENT '=' expr                   { $$ = fe_kv(P, $1, $3); }
  ;

expr:
    expr '+' expr                    { CHECK($$ = fe_bin(P, '+', $1, $3, LOC(@2))); }
  | expr '-' expr                    { CHECK($$ = fe_bin(P, '-', $1, $3, LOC(@2))); }
  | expr '*' expr                    { CHECK($$ = fe_bin(P, '*', $1, $3, LOC(@2))); }
  | expr '/' expr                    { CHECK($$ = fe_bin(P, '/', $1, $3, LOC(@2))); }
  | '-' expr %prec NEG               { CHECK($$ = fe_neg(P, $2, LOC(@1))); }
  | '(' expr ')'                     { $$ = $2; }
  | '[' ']'                          { $$ = fe_list(P, LOC(@1)); }
  | '[' expr_list ']'                { $$ = $2; $$->loc = LOC(@1); }
  | INT
  | FLOAT
  | STRING
  | IDENT
  | VALUE
  | TRUE                             { $$ = fe_node(P, N_TRUE, LOC(@1)); }
  | FALSE                            { $$ = fe_node(P, N_FALSE, LOC(@1)); }
  ;

expr_list:
    expr                             { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | expr_list ',' expr               { CHECK($$ = fe_append(P, $1, $3)); }
  ;

value_list:
    VALUE                            { $$ = fe_list(P, $1->loc); CHECK(fe_append(P, $$, $1)); }
  | value_list ',' VALUE             { CHECK($$ = fe_append(P, $1, $3)); }
  ;

%%

/* How a token is named in "unexpected ..." messages. */
static void describe(char *buf, size_t n, yysymbol_kind_t k, const char *text, bool with_text) {
  switch (k) {
  case YYSYMBOL_YYEOF: snprintf(buf, n, "end of file"); return;
  case YYSYMBOL_IDENT: case YYSYMBOL_VALUE: case YYSYMBOL_FUNCNAME:
  case YYSYMBOL_INT: case YYSYMBOL_FLOAT:
    if (with_text && text[0]) {
      snprintf(buf, n, "%s '%s'", yysymbol_name(k), text);
      return;
    }
    break;
  default: break;
  }
  snprintf(buf, n, "%s", yysymbol_name(k));
}

static bool starts_expr(yysymbol_kind_t k) {
  switch (k) {
  case YYSYMBOL_VALUE: case YYSYMBOL_INT: case YYSYMBOL_FLOAT: case YYSYMBOL_STRING:
  case YYSYMBOL_IDENT: case YYSYMBOL_TRUE: case YYSYMBOL_FALSE:
    return true;
  default: {
    /* Character tokens have no stable symbol names; compare their text. */
    const char *s = yysymbol_name(k);
    return strcmp(s, "'-'") == 0 || strcmp(s, "'('") == 0 || strcmp(s, "'['") == 0;
  }
  }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner) {
  yysymbol_kind_t tok = yypcontext_token(ctx);
  /* The lexer has already reported what was wrong with this token. */
  if (tok == YYSYMBOL_LEXERROR) return 0;
  enum { MAXEXP = 32, MAXSHOW = 6 };
  yysymbol_kind_t exp[MAXEXP];
  int n = yypcontext_expected_tokens(ctx, exp, MAXEXP);
  /* Where an expression may start, say so once instead of listing the
   * ten tokens that can start one. */
  int nexpr = 0, m = 0;
  for (int i = 0; i < n; i++) nexpr += starts_expr(exp[i]);
  bool expr = nexpr >= 5;
  char what[96], list[256] = "";
  describe(what, sizeof what, tok, P->tok, true);
  const char *names[MAXEXP];
  char bufs[MAXEXP][64];
  if (expr) names[m++] = "an expression";
  for (int i = 0; i < n; i++) {
    if (expr && starts_expr(exp[i])) continue;
    describe(bufs[m], sizeof bufs[m], exp[i], "", false);
    names[m] = bufs[m];
    m++;
  }
  if (m > 0 && m <= MAXSHOW) {
    size_t k = (size_t)snprintf(list, sizeof list, ", expected ");
    for (int i = 0; i < m && k < sizeof list; i++)
      k += (size_t)snprintf(list + k, sizeof list - k, "%s%s",
                            i == 0 ? "" : i == m - 1 ? " or " : ", ", names[i]);
  }
  const TIR_YYLTYPE *l = yypcontext_location(ctx);
  tir_diag_error(P->diag, LOC(*l), "syntax error: unexpected %s%s", what, list);
  return 0;
}

static void tir_yyerror(TIR_YYLTYPE *loc, yyscan_t scanner, const char *msg) {
  /* Only "memory exhausted" reaches here: the parser stack hit YYMAXDEPTH,
   * which takes a pathological run of prefix operators. */
  if (strcmp(msg, "memory exhausted") == 0)
    tir_diag_error(P->diag, LOC(*loc), "input nested too deeply");
  else
    tir_diag_error(P->diag, LOC(*loc), "%s", msg);
}
