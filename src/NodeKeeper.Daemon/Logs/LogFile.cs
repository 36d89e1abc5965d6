using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace NodeKeeper.Daemon.Logs;

/// <summary>One log file (one app stream: all instances of the app write into it), written by a single background writer.</summary>
public sealed partial class LogFile : IAsyncDisposable
{
    // After the file could not be opened or written, wait this long before trying again; until then output is dropped.
    private const long RetryIntervalMs = 1000;

    private readonly RotatingFileStream _file;
    private readonly ILogger _logger;
    private readonly long _maxQueuedBytes;
    private readonly Channel<Chunk> _queue;
    private readonly Task _writer;

    private long _queuedBytes;
    private long _droppedBytes;
    private long _droppedLines;
    // 1 while Write drops for lack of queue budget: one warning per episode, which ends when the writer catches up.
    private int _overflowing;

    // Why the file cannot be written, while it cannot.
    private string? _problem;

    // Touched by the writer task only.
    private bool _failing;
    private long _retryAt;
    private long _writtenAtFailure;

    public LogFile(string path, long maxSize, int keep, ILogger logger, long maxQueuedBytes = 8 * 1024 * 1024)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(logger);
        Path = path;
        _file = new RotatingFileStream(path, maxSize, keep);
        _logger = logger;
        _maxQueuedBytes = maxQueuedBytes;
        _queue = Channel.CreateUnbounded<Chunk>(new UnboundedChannelOptions { SingleReader = true });
        _writer = Task.Run(WriteLoopAsync);
    }

    public string Path { get; }

    /// <summary>Bytes that reached the file (flushed to the OS).</summary>
    public long WrittenBytes => _file.WrittenBytes;

    public long DroppedBytes => Interlocked.Read(ref _droppedBytes);

    public long DroppedLines => Interlocked.Read(ref _droppedLines);

    /// <summary>"cannot write PATH: REASON" while output is being dropped because the file cannot be opened or written
    /// (full disk, read-only file system, a file where its folder should be); null once writing works.</summary>
    public string? Problem => Volatile.Read(ref _problem);

    /// <summary>Also sees every chunk of whole lines written (`nk run` mirrors them to the console).</summary>
    public Action<ReadOnlySpan<byte>>? Mirror { get; set; }

    internal ILogger Logger => _logger;

    /// <summary>Queues whole lines (the caller guarantees data ends at a line boundary). Copies the bytes and never blocks:
    /// beyond the queue budget (slow or full disk) the chunk is dropped and counted, with one warning per episode.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
            return;
        Mirror?.Invoke(data);
        if (Interlocked.Read(ref _queuedBytes) + data.Length > _maxQueuedBytes)
        {
            CountDropped(data.Length, data.Count((byte)'\n'));
            if (Interlocked.Exchange(ref _overflowing, 1) == 0)
                LogQueueOverflow(_logger, Path, _maxQueuedBytes);
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(data.Length);
        data.CopyTo(buffer);
        Interlocked.Add(ref _queuedBytes, data.Length);
        if (!_queue.Writer.TryWrite(new Chunk(buffer, data.Length, null)))
        {
            // Disposed: nobody will write it.
            Interlocked.Add(ref _queuedBytes, -data.Length);
            ArrayPool<byte>.Shared.Return(buffer);
            CountDropped(data.Length, data.Count((byte)'\n'));
        }
    }

    /// <summary>Completes when everything queued before the call is in the file (flushed to the OS) or dropped.</summary>
    public Task FlushAsync() => RequestAsync(reopen: false);

    /// <summary>
    /// Completes when everything queued before the call is in the file and the file is closed: the next line opens
    /// the path anew (after logrotate moved the file away, or an operator deleted it).
    /// </summary>
    public Task ReopenAsync() => RequestAsync(reopen: true);

    /// <summary>Completes when everything queued before the call is in the file and the file is empty (`nk flush`, PM2's
    /// flush): lines queued after it are kept.</summary>
    public Task TruncateAsync() => RequestAsync(reopen: false, truncate: true);

    // A request rides the queue behind the lines before it; once disposed, the writer's end is the answer.
    private Task RequestAsync(bool reopen, bool truncate = false)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queue.Writer.TryWrite(new Chunk(null, 0, done, reopen, truncate)) ? done.Task : _writer;
    }

    /// <summary>Drains the queue and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Writes are synchronous on purpose: this is the only thread touching the file, and
            // buffered writes mostly complete in memory.
            while (reader.TryRead(out var chunk))
            {
                if (chunk.Flushed is { } flushed)
                {
                    FlushToOs();
                    if (chunk.Reopen) CloseFile();
                    if (chunk.Truncate) TruncateFile();
                    flushed.TrySetResult();
                }
                else
                {
                    WriteChunk(chunk);
                }
            }
            FlushToOs();
            if (Volatile.Read(ref _overflowing) == 1 && Interlocked.Exchange(ref _overflowing, 0) == 1)
                LogQueueCaughtUp(_logger, Path, DroppedLines);
        }
        _file.Abandon();
    }

    private void CloseFile()
    {
        try
        {
            _file.Dispose();
        }
        catch (LogWriteException failure)
        {
            Fail(failure);
        }
    }

    private void WriteChunk(Chunk chunk)
    {
        var data = chunk.Buffer.AsSpan(0, chunk.Length);
        try
        {
            if (_failing && !_file.IsOpen && Environment.TickCount64 < _retryAt)
                CountDropped(data.Length, data.Count((byte)'\n'));
            else
                _file.Write(data);
        }
        catch (LogWriteException failure)
        {
            Fail(failure);
        }
        finally
        {
            Interlocked.Add(ref _queuedBytes, -chunk.Length);
            ArrayPool<byte>.Shared.Return(chunk.Buffer!);
        }
    }

    private void TruncateFile()
    {
        try
        {
            _file.Truncate();
        }
        catch (LogWriteException failure)
        {
            Fail(failure);
        }
    }

    private void FlushToOs()
    {
        try
        {
            _file.Flush();
        }
        catch (LogWriteException failure)
        {
            Fail(failure);
            return;
        }
        // The episode ends when lines reach the file again, not when they merely fit in the buffer of a reopened file.
        if (_failing && _file.WrittenBytes > _writtenAtFailure)
        {
            _failing = false;
            Volatile.Write(ref _problem, null);
            LogWriteResumed(_logger, Path, DroppedLines);
        }
    }

    // The file is closed; it is opened again on the first write after RetryIntervalMs. One warning per episode; the
    // problem that status shows is the latest (a retry may fail for another reason: a planted link, then a deleted file).
    private void Fail(LogWriteException failure)
    {
        CountDropped(failure.LostBytes, failure.LostLines);
        _retryAt = Environment.TickCount64 + RetryIntervalMs;
        _writtenAtFailure = _file.WrittenBytes;
        var reason = Reason(failure.InnerException ?? failure);
        Volatile.Write(ref _problem, $"cannot write {Path}: {reason}");
        if (!_failing)
        {
            _failing = true;
            LogWriteFailed(_logger, Path, reason);
        }
    }

    // The OS's message, without the path .NET appends to it (the warning names the path already). Messages .NET writes
    // itself are bare resource keys in the daemon (UseSystemResourceKeys): the common one is said here instead.
    private static string Reason(Exception error)
    {
        if (error is UnauthorizedAccessException)
            return "permission denied";
        var message = error.Message.TrimEnd('.');
        int quoted = message.IndexOf(" : '", StringComparison.Ordinal);
        return quoted > 0 && message.EndsWith('\'') ? message[..quoted] : message;
    }

    private void CountDropped(long bytes, long lines)
    {
        Interlocked.Add(ref _droppedBytes, bytes);
        Interlocked.Add(ref _droppedLines, lines);
    }

    /// <summary>A queued copy of some lines (pooled buffer), or, when <see cref="Flushed"/> is set, a flush request (and with Reopen, a reopen after it).</summary>
    private readonly record struct Chunk(byte[]? Buffer, int Length, TaskCompletionSource? Flushed, bool Reopen = false, bool Truncate = false);

    // No exception with it: one line that says what, where and why; the stack says nothing more about a full disk.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot write app log {Path} ({Reason}); dropping its output (counted) and retrying every second")]
    private static partial void LogWriteFailed(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing app log {Path} again; {DroppedLines} lines dropped so far")]
    private static partial void LogWriteResumed(ILogger logger, string path, long droppedLines);

    [LoggerMessage(Level = LogLevel.Warning, Message = "App log {Path} cannot keep up with the app (more than {MaxQueuedBytes} bytes queued); dropping output (counted) until it catches up")]
    private static partial void LogQueueOverflow(ILogger logger, string path, long maxQueuedBytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "App log {Path} caught up; {DroppedLines} lines dropped so far")]
    private static partial void LogQueueCaughtUp(ILogger logger, string path, long droppedLines);
}
