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
    private long _writtenBytes;
    private long _droppedBytes;
    private long _droppedLines;
    // 1 while Write drops for lack of queue budget: one warning per episode, which ends when the writer catches up.
    private int _overflowing;

    // Touched by the writer task only.
    private long _unflushedBytes;
    private long _unflushedLines;
    private bool _failing;
    private long _retryAt;

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
    public long WrittenBytes => Interlocked.Read(ref _writtenBytes);

    public long DroppedBytes => Interlocked.Read(ref _droppedBytes);

    public long DroppedLines => Interlocked.Read(ref _droppedLines);

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
    public Task FlushAsync()
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queue.Writer.TryWrite(new Chunk(null, 0, flushed)) ? flushed.Task : _writer;
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
            // buffered FileStream writes mostly complete in memory.
            while (reader.TryRead(out var chunk))
            {
                if (chunk.Flushed is { } flushed)
                {
                    FlushToOs();
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

    private void WriteChunk(Chunk chunk)
    {
        var data = chunk.Buffer.AsSpan(0, chunk.Length);
        try
        {
            if (_failing && !_file.IsOpen && Environment.TickCount64 < _retryAt)
            {
                CountDropped(data.Length, data.Count((byte)'\n'));
                return;
            }
            _file.Write(data);
            _unflushedBytes += data.Length;
            _unflushedLines += data.Count((byte)'\n');
            if (_failing)
            {
                _failing = false;
                LogWriteResumed(_logger, Path, DroppedLines);
            }
        }
        catch (Exception error)
        {
            Fail(error, data);
        }
        finally
        {
            Interlocked.Add(ref _queuedBytes, -chunk.Length);
            ArrayPool<byte>.Shared.Return(chunk.Buffer!);
        }
    }

    private void FlushToOs()
    {
        if (_unflushedBytes == 0)
            return;
        try
        {
            _file.Flush();
            Interlocked.Add(ref _writtenBytes, _unflushedBytes);
            _unflushedBytes = 0;
            _unflushedLines = 0;
        }
        catch (Exception error)
        {
            Fail(error, default);
        }
    }

    // Whatever sat in the file's buffer is lost with the handle, so it counts as dropped too.
    private void Fail(Exception error, ReadOnlySpan<byte> data)
    {
        _file.Abandon();
        CountDropped(_unflushedBytes + data.Length, _unflushedLines + data.Count((byte)'\n'));
        _unflushedBytes = 0;
        _unflushedLines = 0;
        _retryAt = Environment.TickCount64 + RetryIntervalMs;
        if (!_failing)
        {
            _failing = true;
            LogWriteFailed(_logger, error, Path, error.Message);
        }
    }

    private void CountDropped(long bytes, long lines)
    {
        Interlocked.Add(ref _droppedBytes, bytes);
        Interlocked.Add(ref _droppedLines, lines);
    }

    /// <summary>A queued copy of some lines (pooled buffer), or a flush request when <see cref="Flushed"/> is set.</summary>
    private readonly record struct Chunk(byte[]? Buffer, int Length, TaskCompletionSource? Flushed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot write app log {Path} ({Reason}); dropping its output (counted) and retrying every second")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string path, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing app log {Path} again; {DroppedLines} lines dropped so far")]
    private static partial void LogWriteResumed(ILogger logger, string path, long droppedLines);

    [LoggerMessage(Level = LogLevel.Warning, Message = "App log {Path} cannot keep up with the app (more than {MaxQueuedBytes} bytes queued); dropping output (counted) until it catches up")]
    private static partial void LogQueueOverflow(ILogger logger, string path, long maxQueuedBytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "App log {Path} caught up; {DroppedLines} lines dropped so far")]
    private static partial void LogQueueCaughtUp(ILogger logger, string path, long droppedLines);
}
