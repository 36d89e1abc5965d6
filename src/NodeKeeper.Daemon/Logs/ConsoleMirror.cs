using System.Text;
using System.Threading.Channels;

namespace NodeKeeper.Daemon.Logs;

/// <summary>
/// `nk run`: every app's log lines also go to the daemon's own stdout and stderr, each line prefixed with the app's
/// name, as a container runtime expects. A slow reader of the console never slows an app: beyond a bounded queue,
/// lines are dropped (and counted) here; the log files still get them.
/// </summary>
public sealed class ConsoleMirror : IAsyncDisposable
{
    private readonly Channel<(bool Err, byte[] Data)> _queue = Channel.CreateBounded<(bool, byte[])>(
        new BoundedChannelOptions(4096) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Stream _out = Console.OpenStandardOutput();
    private readonly Stream _err = Console.OpenStandardError();
    private readonly Task _writer;
    private long _dropped;

    public ConsoleMirror() => _writer = Task.Run(WriteAsync);

    public long DroppedChunks => Interlocked.Read(ref _dropped);

    /// <summary>Whole lines of an app's stdout or stderr: each gets "name | ".</summary>
    public void Write(string app, bool err, ReadOnlySpan<byte> lines)
    {
        var prefix = Encoding.UTF8.GetBytes(app + " | ");
        var count = lines.Count((byte)'\n');
        var buffer = new byte[lines.Length + count * prefix.Length + prefix.Length];
        var at = 0;
        while (!lines.IsEmpty)
        {
            var end = lines.IndexOf((byte)'\n');
            var line = end < 0 ? lines : lines[..(end + 1)];
            prefix.CopyTo(buffer, at);
            at += prefix.Length;
            line.CopyTo(buffer.AsSpan(at));
            at += line.Length;
            lines = lines[line.Length..];
        }
        if (!_queue.Writer.TryWrite((err, buffer[..at]))) Interlocked.Increment(ref _dropped);
    }

    private async Task WriteAsync()
    {
        await foreach (var (err, data) in _queue.Reader.ReadAllAsync())
        {
            var target = err ? _err : _out;
            try
            {
                await target.WriteAsync(data);
                if (_queue.Reader.Count == 0) await target.FlushAsync();
            }
            catch (IOException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer;
    }
}
