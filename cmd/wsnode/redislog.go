package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// redisLogger passes go-redis' own log lines (a failed dial in the
// connection pool, a recovered panic, ...) to the node's slog logger, so
// that --log-format json output stays one JSON object per line. go-redis
// gives no level: a line is a Warn, or an Error when it reports a panic.
// Each record carries component=go-redis. Safe for concurrent use, as
// go-redis calls it from any goroutine.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis' logger interface (redis.SetLogger).
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	msg = strings.TrimPrefix(msg, "redis: ")
	level := slog.LevelWarn
	if strings.Contains(msg, "panic") {
		level = slog.LevelError
	}
	l.log.Log(ctx, level, msg, "component", "go-redis")
}

// routeRedisLogs makes go-redis log through log until the returned
// function restores go-redis' default logger (stderr). go-redis' logger is
// process-wide, so two overlapping calls would take it from each other;
// wsnode makes one per Run.
func routeRedisLogs(log *slog.Logger) (restore func()) {
	redis.SetLogger(redisLogger{log: log})
	return logging.Enable
}
