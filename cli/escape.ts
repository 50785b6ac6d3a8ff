/**
 * Text that a user, an input or an image controls (file names, link targets, labels, paths
 * in messages), made safe to print on one terminal line: control characters (C0, DEL, C1),
 * line and paragraph separators and bidirectional overrides become visible escapes
 * (`\n`, `\t`, `\x1b`, `\u202e`), and a backslash is doubled so that the escapes stay
 * unambiguous (as `ls --quoting-style=escape` does). A name with a line break then cannot
 * forge a second line of output.
 */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r' };

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
