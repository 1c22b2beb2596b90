package imagefs

// CursorTail is cursorTail, for the external tests.
const CursorTail = cursorTail
