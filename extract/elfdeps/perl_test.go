package elfdeps

import (
	"slices"
	"testing"
	"testing/fstest"
)

// TestClosurePerl: perl brings the core library of its @INC (the directories its
// binary names under /usr, less pod), and Imports takes the vendor and site modules
// that a #! perl script uses, transitively, with their auto/ directories (XS
// libraries), from every @INC directory that has them; nothing it does not use.
func TestClosurePerl(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	prog := mkELF(t, elfSpec{interp: ldso, needed: []string{"libc.so.6"}})
	prog = append(prog, "\x00/etc/perl\x00/usr/local/share/perl/5.36.0\x00/usr/share/perl5\x00/usr/lib/x86_64-linux-gnu/perl-base\x00"+
		"/usr/lib/x86_64-linux-gnu/perl/5.36\x00/usr/lib/debug/.dwz/x86_64-linux-gnu/perl-base.debug\x00/usr/local/lib/site_perl\x00"...)
	for name, f := range map[string]*fstest.MapFile{
		"usr/bin/perl": file(prog),
		"usr/lib/x86_64-linux-gnu/perl-base/strict.pm":              text("package strict;\n"),
		"usr/lib/x86_64-linux-gnu/perl-base/File/Basename.pm":       text(""),
		"usr/lib/x86_64-linux-gnu/perl-base/pod/perldiag.pod":       text(""),
		"usr/lib/x86_64-linux-gnu/perl-base/Carp.pod":               text(""),
		"usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm":           text(""),
		"usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so": text(""),
		"usr/share/perl5/JSON/PP2.pm":                               text("package JSON::PP2;\nuse parent qw(Exporter Base::Thing);\nrequire Helper::Lazy;\n"),
		"usr/share/perl5/Base/Thing.pm":                             text(""),
		"usr/share/perl5/Helper/Lazy.pm":                            text(""),
		"usr/share/perl5/Unused/Module.pm":                          text(""),
		"usr/local/share/perl/5.36.0/Fast/XS.pm":                    text("require XSLoader;\nXSLoader::load('Fast::XS');\n"),
		"usr/local/share/perl/5.36.0/auto/Fast/XS/XS.so":            text(""),
		"usr/local/lib/site_perl/Fast/XS.pm":                        text(""),
		"app/run": text("#!/usr/bin/perl -w\nuse strict;\nuse JSON::PP2 2.0 qw(x);\nuse Fast::XS;\nuse 5.010;\n" +
			"# use Unused::Module;\n=pod\n\nuse Unused::Module;\n\n=cut\nprint 1;\n__END__\nuse Unused::Module;\n"),
	} {
		m[name] = f
	}
	r, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := r.Closure("usr/bin/perl")
	if err != nil {
		t.Fatal(err)
	}
	got := reasons(deps)
	for _, p := range []string{"usr/lib/x86_64-linux-gnu/perl-base/strict.pm", "usr/lib/x86_64-linux-gnu/perl-base/File/Basename.pm",
		"usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm", "usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s (core) not taken with perl", p)
		}
	}
	for _, p := range []string{"usr/lib/x86_64-linux-gnu/perl-base/pod/perldiag.pod", "usr/lib/x86_64-linux-gnu/perl-base/Carp.pod", "usr/share/perl5/JSON/PP2.pm"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s taken with perl", p)
		}
	}

	deps, err = r.Imports("app/run", "usr/bin/perl")
	if err != nil {
		t.Fatal(err)
	}
	got = reasons(deps)
	want := map[string]string{
		"usr/share/perl5/JSON/PP2.pm":                    "perl module JSON/PP2.pm used by /app/run",
		"usr/share/perl5/Base/Thing.pm":                  "perl module Base/Thing.pm used by /usr/share/perl5/JSON/PP2.pm",
		"usr/share/perl5/Helper/Lazy.pm":                 "perl module Helper/Lazy.pm used by /usr/share/perl5/JSON/PP2.pm",
		"usr/local/share/perl/5.36.0/Fast/XS.pm":         "perl module Fast/XS.pm used by /app/run",
		"usr/local/share/perl/5.36.0/auto/Fast/XS/XS.so": "perl module Fast/XS.pm used by /app/run",
		"usr/local/lib/site_perl/Fast/XS.pm":             "perl module Fast/XS.pm used by /app/run",
	}
	for p, why := range want {
		if got[p] != why {
			t.Errorf("%s: reason %q, want %q", p, got[p], why)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok && !slices.Contains([]string{"usr/lib/x86_64-linux-gnu/perl-base/strict.pm"}, p) {
			t.Errorf("Imports took %s (%s)", p, got[p])
		}
	}
}

// TestPerlModules: what a Perl source loads by name, and not what POD, comments after
// __END__ or version numbers say.
func TestPerlModules(t *testing.T) {
	src := "use strict;\nuse 5.010;\nno warnings 'once';\nuse parent -norequire, 'A::B';\nuse base qw(C D::E);\n" +
		"eval { require F::G; 1 };\nrequire 'h.pl';\ndo \"i/j.pl\";\nmy $x = 'use NotMe';\n=head1 X\nuse NotPod;\n=cut\n__DATA__\nuse NotData;\n"
	got := perlModules([]byte(src))
	want := []string{"strict.pm", "warnings.pm", "parent.pm", "base.pm", "F/G.pm", "h.pl", "i/j.pl", "A/B.pm", "C.pm", "D/E.pm"}
	if !slices.Equal(got, want) {
		t.Errorf("perlModules = %q\nwant %q", got, want)
	}
}
