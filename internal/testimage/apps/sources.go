package apps

// The apps' sources. Each prints what shows it works; a broken image prints less or fails.

const pythonApp = `import hashlib, json, sys
import six
import yaml

data = {"name": "slim", "list": [1, 2.5, None, True], "nested": {"k": "v"}}
text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=True)
back = yaml.load(text, Loader=yaml.CSafeLoader)
print(text, end="")
print("round trip:", back == data, "libyaml:", yaml.__with_libyaml__)
print("six:", six.PY3, six.text_type.__name__, "python:", sys.version_info[:2])
print("sha256:", hashlib.sha256(b"slim").hexdigest(), json.dumps(back, sort_keys=True))
`

const nodeApp = `const express = require('express');
const _ = require('lodash');
const semver = require('semver');
console.log('express', typeof express());
console.log('lodash', JSON.stringify(_.chunk([1, 2, 3, 4, 5], 2)));
console.log('semver', semver.satisfies('1.2.3', '^1.0.0'), semver.valid('v2.0.0'));
`

const javaApp = `import java.security.KeyStore;
import java.security.MessageDigest;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.Instant;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Main {
	public static void main(String[] args) throws Exception {
		System.out.println("java " + System.getProperty("java.version"));
		StringBuilder sb = new StringBuilder();
		for (byte b : MessageDigest.getInstance("SHA-256").digest("slim".getBytes("UTF-8"))) {
			sb.append(String.format("%02x", b));
		}
		System.out.println("sha256 " + sb);
		TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
		tmf.init((KeyStore) null);
		System.out.println("trusted " + (((X509TrustManager) tmf.getTrustManagers()[0]).getAcceptedIssuers().length > 100));
		System.out.println("paris " + ZonedDateTime.ofInstant(Instant.EPOCH, ZoneId.of("Europe/Paris")));
	}
}
`

const cgoApp = `package main

import (
	"fmt"
	"net"
	"os/user"
)

func main() {
	u, err := user.Lookup("root")
	if err != nil {
		fmt.Println("user:", err)
		return
	}
	addrs, err := net.LookupHost("localhost")
	fmt.Println("root", u.Uid, u.HomeDir, "localhost", addrs, err)
}
`

// tlsServer serves /app/www over HTTPS on port 8443 with the key pair in /app/tls,
// then runs its arguments and exits as they did: the TLS server the curl workload
// talks to, inside the container (runc gives it loopback only).
const tlsServer = `package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
)

func main() {
	ln, err := net.Listen("tcp", ":8443")
	if err != nil {
		panic(err)
	}
	go http.ServeTLS(ln, http.FileServer(http.Dir("/app/www")), "/app/tls/server.crt", "/app/tls/server.key")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			os.Exit(e.ExitCode())
		}
		panic(err)
	}
}
`

// cxxProbe uses libstdc++ (iostream, string streams), libcrypto's MD4 (only the legacy
// provider has it, activated by openssl.cnf), and what glibc reads by name: the https
// port in /etc/services, both families of localhost, the C.UTF-8 locale.
const cxxProbe = `#include <iostream>
#include <iomanip>
#include <sstream>
#include <set>
#include <clocale>
#include <cstring>
#include <netdb.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
int main() {
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD *md4 = EVP_MD_fetch(nullptr, "MD4", nullptr);
	std::ostringstream hex;
	if (md4 && EVP_Digest("slim", 4, md, &n, md4, nullptr)) {
		for (unsigned int i = 0; i < n; i++) hex << std::hex << std::setw(2) << std::setfill('0') << int(md[i]);
	} else {
		hex << "unavailable";
	}
	std::cout << "md4 " << hex.str() << std::endl;
	struct servent *s = getservbyname("https", "tcp");
	std::cout << "https/tcp " << (s ? ntohs(s->s_port) : -1) << std::endl;
	struct addrinfo hints, *res;
	std::memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	std::set<std::string> addrs;
	if (getaddrinfo("localhost", nullptr, &hints, &res) == 0) {
		for (struct addrinfo *p = res; p; p = p->ai_next) {
			char buf[64];
			void *a = p->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
			                                  : (void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
			addrs.insert(inet_ntop(p->ai_family, a, buf, sizeof buf));
		}
	}
	std::cout << "localhost";
	for (const auto &a : addrs) std::cout << " " << a;
	std::cout << std::endl << "locale " << (std::setlocale(LC_ALL, "C.UTF-8") ? "ok" : "failed") << std::endl;
	return 0;
}
`

// nodePackages are the Node app's npm packages.
func nodePackages() []string { return []string{"express@4.21.2", "lodash@4.17.21", "semver@7.6.3"} }

// shellApp is a #!/bin/sh entrypoint calling coreutils, grep and sed by plain name,
// reading a data file of the app by a name another file holds (which only a run reads).
const shellApp = `#!/bin/sh
set -e
year=$(date -u -d @0 +%Y)
echo "epoch year $year" | grep -o 'year [0-9]*' | sed 's/year/YEAR/'
wc -c <"/app/data/$(cat /app/data/name)" | sed 's/$/ bytes/'
if printf slim | sha256sum | cut -d' ' -f1 | grep -q '^ebe4'; then echo sha256 ok; else echo sha256 wrong; fi
ls /app | sort | head -n 1
`
