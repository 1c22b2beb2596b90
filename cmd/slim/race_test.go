//go:build race

package main

// raceEnabled: the race detector's shadow memory makes a child's RSS say nothing of slim's.
const raceEnabled = true
