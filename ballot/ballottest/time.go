package ballottest

import "time"

func timeUnixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
