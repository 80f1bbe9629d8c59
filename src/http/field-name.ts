/**
 * Field names as the apps behind Palisade may read them. CGI-style stacks (PHP, Rack, WSGI,
 * many Java and Go frameworks through them) expose `X-Palisade-Tenant` as
 * `HTTP_X_PALISADE_TENANT`, turning `-`, `_` and (PHP) `.` and other punctuation into `_`.
 * So two names that differ only there are the same header to some app, and every check on
 * a name (reserved, alias, target, routing) works on the folded form.
 */
const NOT_DASHED = /[^a-z0-9-]/;
const NOT_DASHED_ALL = /[^a-z0-9-]/g;

/** A lower-case field name with every character but letters, digits and `-` folded to `-`. */
export function foldedName(name: string): string {
  return NOT_DASHED.test(name) ? name.replace(NOT_DASHED_ALL, "-") : name;
}
