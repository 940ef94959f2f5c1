package leaks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zricethezav/gitleaks/v8/cmd/scm"
	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/scanners"
)

// This file reads `git log -p -U0` into the fragments gitleaks scans: the
// added lines of each hunk, with the commit, the new file name and the
// hunk's first line. It replaces go-gitdiff, the parser the gitleaks CLI
// uses, which keeps every removed and added line of a hunk as its own
// string before the added ones are joined: on gitleaks' own history, 150 of
// the 327 MB a scan allocated and 0.3 s of its CPU. Only added lines are
// kept here, copied once into the hunk's text.
//
// The fragments are go-gitdiff's (TestGitLogReaderMatchesGoGitdiff: file
// names quoted, with spaces, tabs, newlines and bytes outside UTF-8,
// renames, copies, binary files, mode changes, symbolic links, submodules,
// files without a final newline, CRLF, merges, empty commits). Where they
// differ go-gitdiff lost a file: it drops a file whose name ends in a
// backslash, and gives a commit's files no commit at all when the user's
// git configuration changes the log's format (format.pretty, log.date):
// the arguments below pin everything the parser reads.

// gitLogArgs is the gitleaks CLI's `git log -p -U0 --full-history
// --diff-filter=tuxdb`, over the commits given on stdin, in a format that
// does not depend on the user's configuration: each commit starts with a
// NUL (which no line of a diff can start with), its id, author date,
// author name and e-mail separated by NULs (the names as the default
// format shows them, .mailmap applied); file names keep git's a/ and b/.
//
// The rest pins git's defaults that a user's configuration can change: a
// diff of the root commit (log.showRoot), no context between hunks (with
// diff.interHunkContext gitleaks counts context lines it does not see into
// its line numbers), the diff algorithm and rename detection (so that the
// same history gives the same lines on every machine), submodules as
// "Subproject commit" lines, no colour, no signatures, git's own diff.
var gitLogArgs = []string{"log", "-p", "-U0", "--full-history", "--diff-filter=tuxdb",
	"--no-walk=unsorted", "--stdin",
	"--format=%x00%H%x00%aI%x00%aN%x00%aE", "--src-prefix=a/", "--dst-prefix=b/",
	"--root", "--inter-hunk-context=0", "--diff-algorithm=myers", "--indent-heuristic", "--find-renames",
	"--submodule=short", "--no-color", "--no-ext-diff", "--no-show-signature"}

// gitLogMallocTrim is the heap top glibc's malloc keeps for a `git log -p`
// rather than hand back to the kernel. git allocates and frees a buffer per
// blob it diffs; at glibc's default (128 KiB) each free shrinks the heap and
// the next allocation faults its pages in again: on gitleaks' history 86,000
// page faults and a fifth of git's CPU in the kernel, against 14,000 at
// 16 MiB, with the same peak (70 MiB). Only glibc reads the variable: a git
// built on another libc ignores it, and a setting the user made is kept.
const gitLogMallocTrim = "glibc.malloc.trim_threshold=16777216"

// withMallocTrim is env with gitLogMallocTrim added to GLIBC_TUNABLES.
func withMallocTrim(env []string) []string {
	out := make([]string, 0, len(env)+1)
	set := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES="); ok {
			set = true
			if !strings.Contains(v, "glibc.malloc.trim_threshold=") {
				kv += ":" + gitLogMallocTrim
			}
		}
		out = append(out, kv)
	}
	if !set {
		out = append(out, "GLIBC_TUNABLES="+gitLogMallocTrim)
	}
	return out
}

// noRemote stands in for the link information gitleaks can add to findings:
// its detector dereferences CommitInfo.Remote for every match in a commit.
var noRemote = &sources.RemoteInfo{Platform: scm.NoPlatform}

// logReader reads git's output a line at a time without copying lines that
// fit its buffer.
type logReader struct {
	r    *bufio.Reader
	long []byte // a line longer than r's buffer, gathered
	n    int    // lines read, for errors
}

// line returns the next line, its newline included (the last may have
// none); it is valid until the next call.
func (lr *logReader) line() ([]byte, error) {
	l, err := lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		lr.long = append(lr.long[:0], l...)
		for err == bufio.ErrBufferFull {
			l, err = lr.r.ReadSlice('\n')
			lr.long = append(lr.long, l...)
		}
		l = lr.long
	}
	if err == io.EOF && len(l) > 0 {
		err = nil
	}
	if err == nil {
		lr.n++
	}
	return l, err
}

// noNewline says whether the next line is git's "\ No newline at end of
// file", which belongs to the line before it.
func (lr *logReader) noNewline() bool {
	b, _ := lr.r.Peek(2)
	return len(b) == 2 && b[0] == '\\' && b[1] == ' '
}

// errStopped is readGitLog's error when its caller stopped the read.
var errStopped = errors.New("stopped at a commit")

// readGitLog reads gitLogArgs' output from r and yields the added text of
// every hunk of a file that is neither deleted nor binary (as the gitleaks
// CLI, which reads binary files only with --max-archive-depth). A hunk that
// only removes lines yields nothing. commit is called at each commit
// counted. at, when not nil, is called with each commit's id as its header
// is read, before anything of it is yielded; when it returns false the
// read stops there, with errStopped.
func readGitLog(r io.Reader, at func(sha string) bool, commit func(), yield func(sources.Fragment)) (scanners.Stats, error) {
	var (
		st   scanners.Stats
		lr   = logReader{r: bufio.NewReaderSize(r, 1<<20)}
		info *sources.CommitInfo
		name string // the file's new name, from its "+++ " line
		file bool   // inside a file's diff
		skip bool   // the file is binary or deleted
		seen bool   // a file of the commit was read
		text []byte // the hunk's added lines
	)
	endFile := func() {
		if file && !skip {
			st.Files++
		}
		file, skip, name = false, false, ""
	}
	for {
		l, err := lr.line()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		switch {
		case l[0] == 0:
			endFile()
			ci, err := parseCommitLine(l)
			if err != nil {
				return st, fmt.Errorf("git log output, line %d: %w", lr.n, err)
			}
			if at != nil && !at(ci.SHA) {
				return st, errStopped
			}
			info, seen = ci, false
		case bytes.HasPrefix(l, []byte("diff --git ")):
			endFile()
			file = true
			if !seen && info != nil {
				// Commits are counted as go-gitdiff counted them: those
				// with a file in the log (not a merge, nor a commit that
				// only deletes).
				seen = true
				st.Commits++
				commit()
			}
		case !file:
			// the blank line after a commit's header, or anything git
			// may print that is not a diff (a signature check)
		case bytes.HasPrefix(l, []byte("@@ -")):
			start, oldN, newN, err := parseHunkHeader(l)
			if err != nil {
				return st, fmt.Errorf("git log output, line %d: %w", lr.n, err)
			}
			if info == nil || name == "" && !skip {
				return st, fmt.Errorf("git log output, line %d: a hunk outside a commit's file", lr.n)
			}
			text = text[:0]
			last := byte(0) // the op of the hunk's last line
			for oldN > 0 || newN > 0 || lr.noNewline() {
				l, err := lr.line()
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return st, fmt.Errorf("git log output, line %d: hunk cut short: %w", lr.n, err)
				}
				switch l[0] {
				case '+':
					newN--
					text = append(text, l[1:]...)
				case '-':
					oldN--
				case ' ', '\n':
					// context, which -U0 and --inter-hunk-context=0 leave
					// out; "\n" is an empty one under diff.suppressBlankEmpty
					oldN--
					newN--
				case '\\':
					if last == '+' && len(text) > 0 && text[len(text)-1] == '\n' {
						text = text[:len(text)-1]
					}
				default:
					return st, fmt.Errorf("git log output, line %d: hunk miscounts its lines", lr.n)
				}
				last = l[0]
				if oldN < 0 || newN < 0 {
					return st, fmt.Errorf("git log output, line %d: hunk miscounts its lines", lr.n)
				}
			}
			if skip || len(text) == 0 {
				continue
			}
			st.Bytes += int64(len(text))
			yield(sources.Fragment{
				CommitSHA:  info.SHA,
				FilePath:   name,
				Raw:        string(text),
				StartLine:  start,
				CommitInfo: info,
			})
		case bytes.HasPrefix(l, []byte("+++ ")):
			n, err := parseNewName(l[4:])
			if err != nil {
				return st, fmt.Errorf("git log output, line %d: %w", lr.n, err)
			}
			name = string(n)
		case bytes.HasPrefix(l, []byte("Binary files ")), bytes.HasPrefix(l, []byte("deleted file mode ")):
			skip = true
		}
	}
	endFile()
	return st, nil
}

// parseCommitLine reads "\x00<id>\x00<author date>\x00<name>\x00<e-mail>".
func parseCommitLine(l []byte) (*sources.CommitInfo, error) {
	f := bytes.Split(bytes.TrimSuffix(l[1:], []byte("\n")), []byte{0})
	if len(f) != 4 || len(f[0]) < 40 {
		return nil, errors.New("not a commit header")
	}
	ci := &sources.CommitInfo{Remote: noRemote, SHA: string(f[0]),
		AuthorName: string(f[2]), AuthorEmail: string(f[3])}
	// The date as go-gitdiff gave it from the default format: UTC, RFC
	// 3339; the zero time when git cannot make one of the commit's.
	d, _ := time.Parse(time.RFC3339, string(f[1]))
	ci.Date = d.UTC().Format(time.RFC3339)
	return ci, nil
}

// parseHunkHeader reads "@@ -a[,b] +c[,d] @@...": the new side's first line
// and both sides' line counts.
func parseHunkHeader(l []byte) (start, oldN, newN int, err error) {
	rest := l[len("@@ -"):]
	_, oldN, rest, err = parseRange(rest, ' ')
	if err == nil {
		if len(rest) == 0 || rest[0] != '+' {
			err = errors.New("bad hunk header")
		} else {
			start, newN, _, err = parseRange(rest[1:], ' ')
		}
	}
	if err != nil {
		// Only the ranges: after them git writes the line of the file
		// that heads the hunk's function, which may hold a secret.
		ranges, _, ok := bytes.Cut(l, []byte(" @@"))
		if !ok {
			return 0, 0, 0, errors.New("bad hunk header: no closing @@")
		}
		return 0, 0, 0, fmt.Errorf("bad hunk header %q", ranges)
	}
	return start, oldN, newN, nil
}

// parseRange reads "a[,b]" up to end: a, b (1 when absent) and what follows.
func parseRange(s []byte, end byte) (a, b int, rest []byte, err error) {
	i := bytes.IndexByte(s, end)
	if i < 0 {
		return 0, 0, nil, errors.New("bad range")
	}
	r, rest := s[:i], s[i+1:]
	b = 1
	if c := bytes.IndexByte(r, ','); c >= 0 {
		if b, err = strconv.Atoi(string(r[c+1:])); err != nil {
			return
		}
		r = r[:c]
	}
	a, err = strconv.Atoi(string(r))
	if a < 0 || b < 0 {
		err = errors.New("negative range")
	}
	return
}

// parseNewName reads the name on a "+++ " line: "b/<name>", with a tab
// after it when the name has a space, or C-quoted when it has a byte git
// quotes (a control character, a quote, a backslash, any byte over 0x7f
// unless core.quotePath is off). "/dev/null" is a deleted file's.
func parseNewName(s []byte) ([]byte, error) {
	s = bytes.TrimSuffix(s, []byte("\n"))
	if len(s) > 0 && s[0] == '"' {
		q, err := unquoteC(s)
		if err != nil {
			return nil, fmt.Errorf("file name %s: %w", s, err)
		}
		s = q
	} else if i := bytes.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	if string(s) == "/dev/null" {
		return nil, nil
	}
	if !bytes.HasPrefix(s, []byte("b/")) {
		return nil, fmt.Errorf("file name %q without git's b/", s)
	}
	return s[2:], nil
}

// unquoteC undoes git's quoting of a name (quote_c_style): the escapes
// \a \b \t \n \v \f \r \" \\ and three octal digits for any other byte.
// What follows the closing quote (a tab) is ignored.
func unquoteC(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return out, nil
		case '\\':
			i++
			if i >= len(s) {
				return nil, errors.New("cut short")
			}
			e := s[i]
			if k := strings.IndexByte(cEscapes, e); k >= 0 {
				out = append(out, cEscaped[k])
				continue
			}
			if i+2 >= len(s) || !isOctal(e) || !isOctal(s[i+1]) || !isOctal(s[i+2]) || e > '3' {
				return nil, fmt.Errorf("bad escape \\%c", e)
			}
			out = append(out, (e-'0')<<6|(s[i+1]-'0')<<3|(s[i+2]-'0'))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return nil, errors.New("no closing quote")
}

// cEscapes are the letters of git's one-letter escapes; cEscaped, by the
// same index, the bytes they stand for.
const (
	cEscapes = "abtnvfr\"\\"
	cEscaped = "\a\b\t\n\v\f\r\"\\"
)

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
