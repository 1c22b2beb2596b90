// The demo server: answers every request with a greeting and the request path.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the slim demo server (%s, %s/%s), you asked for %s\n",
			runtime.Version(), runtime.GOOS, runtime.GOARCH, r.URL.Path)
	})
	log.Printf("listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
