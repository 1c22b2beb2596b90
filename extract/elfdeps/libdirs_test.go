package elfdeps

import (
	"slices"
	"testing"
	"testing/fstest"
)

// TestClosureLibDirs: ruby (through libruby), php, lua and tclsh bring the library
// directories their binaries name (Lua's from its path templates), whole less
// documentation, and Ruby its installed gems; not directories of other families, not
// debug or man paths, not /usr/lib itself.
func TestClosureLibDirs(t *testing.T) {
	t.Parallel()
	m := glibcImage(t)
	exe := func(needed []string, strs string) *fstest.MapFile {
		return file(append(mkELF(t, elfSpec{interp: ldso, needed: append(needed, "libc.so.6")}), strs...))
	}
	for name, f := range map[string]*fstest.MapFile{
		"usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1": file(append(mkELF(t, elfSpec{soname: "libruby-3.1.so.3.1", needed: []string{"libc.so.6"}}),
			"\x00/usr/lib\x00/usr/lib/ruby/3.1.0\x00/usr/lib/x86_64-linux-gnu/ruby/3.1.0\x00/usr/lib/ruby/vendor_ruby\x00/usr/lib/debug/.debug/ruby\x00/usr/share/man/man1/ruby.1\x00"...)),
		"usr/bin/ruby3.1":                                                exe([]string{"libruby-3.1.so.3.1"}, ""),
		"usr/bin/ruby":                                                   link("ruby3.1"),
		"usr/lib/ruby/3.1.0/set.rb":                                      text(""),
		"usr/lib/ruby/3.1.0/rubygems.rb":                                 text(""),
		"usr/lib/ruby/3.1.0/doc/README":                                  text(""),
		"usr/lib/x86_64-linux-gnu/ruby/3.1.0/json/ext/parser.so":         text(""),
		"usr/lib/ruby/vendor_ruby/rubygems/defaults/operating_system.rb": text(""),
		"var/lib/gems/3.1.0/gems/rack-3.0.0/lib/rack.rb":                 text(""),
		"usr/bin/php8.2":                                                 exe(nil, "\x00/etc/php/8.2/cli\x00/usr/lib/php/20220829\x00/usr/share/zoneinfo/%s\x00/usr/lib/ruby/3.1.0\x00"),
		"etc/php/8.2/cli/php.ini":                                        text(""),
		"etc/php/8.2/cli/conf.d/20-json.ini":                             link("/etc/php/8.2/mods-available/json.ini"),
		"etc/php/8.2/mods-available/json.ini":                            text(""),
		"usr/lib/php/20220829/json.so":                                   text(""),
		"usr/bin/lua5.4": exe(nil, "\x00/usr/local/share/lua/5.4/?.lua;/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua;./?.lua\x00"+
			"/usr/local/lib/lua/5.4/?.so;/usr/lib/x86_64-linux-gnu/lua/5.4/?.so\x00"),
		"usr/share/lua/5.4/inspect.lua":            text(""),
		"usr/lib/x86_64-linux-gnu/lua/5.4/lpeg.so": text(""),
		"usr/lib/x86_64-linux-gnu/libtcl8.6.so":    file(append(mkELF(t, elfSpec{soname: "libtcl8.6.so", needed: []string{"libc.so.6"}}), "\x00/usr/share/tcltk/tcl8.6\x00/usr/include/tcl8.6\x00"...)),
		"usr/bin/tclsh8.6":                         exe([]string{"libtcl8.6.so"}, ""),
		"usr/share/tcltk/tcl8.6/init.tcl":          text(""),
	} {
		m[name] = f
	}
	cases := map[string][]string{
		"usr/bin/ruby": {"usr/lib/ruby/3.1.0/set.rb", "usr/lib/ruby/3.1.0/rubygems.rb", "usr/lib/x86_64-linux-gnu/ruby/3.1.0/json/ext/parser.so",
			"usr/lib/ruby/vendor_ruby/rubygems/defaults/operating_system.rb", "var/lib/gems/3.1.0/gems/rack-3.0.0/lib/rack.rb"},
		"usr/bin/php8.2":   {"etc/php/8.2/cli/php.ini", "etc/php/8.2/cli/conf.d/20-json.ini", "etc/php/8.2/mods-available/json.ini", "usr/lib/php/20220829/json.so"},
		"usr/bin/lua5.4":   {"usr/share/lua/5.4/inspect.lua", "usr/lib/x86_64-linux-gnu/lua/5.4/lpeg.so"},
		"usr/bin/tclsh8.6": {"usr/share/tcltk/tcl8.6/init.tcl"},
	}
	for prog, want := range cases {
		got := closureReasons(t, m, prog)
		for _, p := range want {
			if _, ok := got[p]; !ok {
				t.Errorf("%s: %s not taken", prog, p)
			}
		}
		for p := range got {
			for other, files := range cases {
				if other != prog && slices.Contains(files, p) {
					t.Errorf("%s took %s (%s), a file of %s", prog, p, got[p], other)
				}
			}
		}
		if _, ok := got["usr/lib/ruby/3.1.0/doc/README"]; ok {
			t.Errorf("%s took documentation", prog)
		}
	}
}
