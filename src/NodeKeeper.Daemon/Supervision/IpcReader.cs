using System.Net.Sockets;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>What an app's IPC channel carries that the daemon acts on.</summary>
public interface IIpcListener
{
    /// <summary>The preload's report (heap, event-loop delay, handles), at most one per report spacing.</summary>
    void Reported(PreloadReport report);
    /// <summary>process.send('ready') (as PM2's wait_ready expects).</summary>
    void ReadyMessage();
    /// <summary>The preload saw the app listen (on the shared socket, where probing the port proves nothing).</summary>
    void Listening();
    /// <summary>The preload has no connection left after a drain.</summary>
    void Drained();
    /// <summary>The preload wrote a capture (or failed to), asked for or taken by itself.</summary>
    void Captured(CaptureNotice notice);
}

/// <summary>
/// Reads an app's IPC channel on a small thread of its own until it closes. What an app sends costs the daemon a bounded
/// amount, however fast it sends: lines are told apart by their first bytes (no text is made of a line the daemon does
/// not use), long lines are skipped unread (<see cref="IpcLines"/>), reports closer together than the spacing are
/// ignored unparsed, and a flooding app is read in paced batches (its sends wait in the socket and then in the app
/// itself) instead of a wake-up per message. Every line is still read, in order: "ready" and "drained" get through.
/// </summary>
public static class IpcReader
{
    /// <summary>Past this many reads of the channel in a second, an app sends faster than NodeKeeper ever needs.</summary>
    private const int FloodReads = 100;
    /// <summary>The pause after each read of a flooding app's channel: its messages then come in batches of up to a buffer.</summary>
    private static readonly TimeSpan FloodPause = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Starts the reader. A blocking read on a thread of its own: a report a second per instance then costs one
    /// wake-up, not a trip through the socket engine and the thread pool.
    /// </summary>
    /// <remarks>
    /// It parks in <paramref name="slot"/> when <see cref="ReaderPause"/> asks (`nk update`); the reader of the next
    /// daemon image goes on from what it left (<paramref name="resume"/>).
    /// </remarks>
    public static void Start(Socket channel, TimeSpan reportSpacing, IIpcListener listener, string name, ReaderSlot slot, ParkedReader? resume = null)
    {
        var reader = new Thread(() => Read(channel, reportSpacing, listener, slot, resume), maxStackSize: 128 * 1024) { IsBackground = true, Name = $"ipc {name}" };
        reader.Start();
    }

    private static void Read(Socket channel, TimeSpan reportSpacing, IIpcListener listener, ReaderSlot slot, ParkedReader? resume)
    {
        var buffer = Buffers.Pool.Rent(16 * 1024);
        var lines = new IpcLines();
        if (resume is not null) lines.Resume(resume.Carried, resume.Flag);
        var spacing = (long)reportSpacing.TotalMilliseconds;
        var lastReport = Environment.TickCount64 - spacing;
        var second = 0L;
        var reads = 0;
        // Held for as long as this thread reads: the fd is not closed (and its number not reused) under a read.
        var handle = channel.SafeHandle;
        var held = false;
        try
        {
            handle.DangerousAddRef(ref held);
            var fd = (int)handle.DangerousGetHandle();
            while (true)
            {
                if (!Native.WaitReadableUnless(fd, ReaderPause.Fd))
                {
                    slot.Park(new ParkedReader(Native.DupCloseOnExec(fd), lines.Pending.ToArray(), lines.Skipping));
                    continue;
                }
                var n = Native.ReadBlocking(fd, buffer);
                if (n <= 0) return;
                ReadOnlySpan<byte> chunk = buffer.AsSpan(0, n);
                while (lines.Next(ref chunk, out var line)) Dispatch(line[System.Text.Ascii.Trim(line)], spacing, ref lastReport, listener);
                var now = Environment.TickCount64;
                if (now / 1000 != second) { second = now / 1000; reads = 0; }
                if (++reads > FloodReads) Thread.Sleep(FloodPause);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException) { }
        finally
        {
            slot.End();
            if (held) handle.DangerousRelease();
            Buffers.Pool.Return(buffer);
        }
    }

    private static void Dispatch(ReadOnlySpan<byte> line, long spacing, ref long lastReport, IIpcListener listener)
    {
        if (line.StartsWith("{\"nk\":\"drained\""u8)) listener.Drained();
        else if (line.StartsWith("{\"nk\":\"metrics\""u8))
        {
            // The preload reports once an interval: what comes sooner is the app's own doing, and is not even parsed.
            var now = Environment.TickCount64;
            if (now - lastReport < spacing) return;
            lastReport = now;
            if (Parse(line) is { } report) listener.Reported(report);
        }
        else if (line.SequenceEqual("\"ready\""u8)) listener.ReadyMessage();
        else if (line.StartsWith("{\"nk\":\"listening\""u8)) listener.Listening();
        else if (line.StartsWith("{\"nk\":\"captured\""u8))
        {
            try
            {
                if (System.Text.Json.JsonSerializer.Deserialize(line, ProtocolJson.Default.CaptureNotice) is { } notice) listener.Captured(notice);
            }
            catch (System.Text.Json.JsonException) { }
        }
    }

    private static PreloadReport? Parse(ReadOnlySpan<byte> json)
    {
        try { return System.Text.Json.JsonSerializer.Deserialize(json, ProtocolJson.Default.PreloadReport); }
        catch (System.Text.Json.JsonException) { return null; }
    }
}
