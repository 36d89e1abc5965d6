using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
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
/// Reads an app's IPC channel until it closes, on <see cref="FdReactor.Ipc"/> (one thread for every app's channel). What
/// an app sends costs the daemon a bounded amount, however fast it sends: lines are told apart by their first bytes (no
/// text is made of a line the daemon does not use), long lines are skipped unread (<see cref="IpcLines"/>), reports
/// closer together than the spacing are ignored unparsed, and a flooding app is read in paced batches (its sends wait in
/// the socket and then in the app itself) instead of a wake-up per message. Every line is still read, in order: "ready"
/// and "drained" get through.
/// </summary>
public static class IpcReader
{
    /// <summary>Past this many reads of the channel in a second, an app sends faster than NodeKeeper ever needs.</summary>
    private const int FloodReads = 100;
    private const int ReadSize = 16 * 1024;

    /// <summary>
    /// Starts reading. It parks in <paramref name="slot"/> when <see cref="ReaderPause"/> asks (`nk update`); the reader
    /// of the next daemon image goes on from what it left (<paramref name="resume"/>).
    /// </summary>
    /// <returns>Completes once the reader has ended (the channel reached its end, or was shut down).</returns>
    public static Task Start(Socket channel, TimeSpan reportSpacing, IIpcListener listener, ReaderSlot slot, ParkedReader? resume = null)
    {
        // A new run's readiness ("listening", "ready") is awaited: its messages are read in short rounds.
        FdReactor.Ipc.Hurry();
        return FdReactor.Ipc.Add(new ChannelReader(channel, reportSpacing, listener, slot, resume));
    }

    /// <remarks>
    /// It reads a copy of the channel's fd, closed when it ends. Holding the Socket's own handle instead made disposing the
    /// Socket wait for the reader: .NET closes a socket that is still in use by spinning on the disposing thread (yields and
    /// 1 ms sleeps) until it is let go, and this thread looks at the channels every 50-250 ms. Each ending run held a pool
    /// thread that long, and during `stop all` even `nk ping` waited 20-50 ms for a free one (measured).
    /// </remarks>
    private sealed class ChannelReader : FdReader
    {
        private readonly SafeFileHandle _copy;
        private readonly IIpcListener _listener;
        private readonly IpcLines _lines = new();
        private readonly long _spacing;
        private long _lastReport;
        private long _second;
        private int _reads;

        public ChannelReader(Socket channel, TimeSpan reportSpacing, IIpcListener listener, ReaderSlot slot, ParkedReader? resume)
            : this(new SafeFileHandle(Native.DupCloseOnExec((int)channel.SafeHandle.DangerousGetHandle()), ownsHandle: true),
                reportSpacing, listener, slot, resume)
        {
        }

        private ChannelReader(SafeFileHandle copy, TimeSpan reportSpacing, IIpcListener listener, ReaderSlot slot, ParkedReader? resume)
            : base(copy, slot)
        {
            _copy = copy;
            _listener = listener;
            if (resume is not null) _lines.Resume(resume.Carried, resume.Flag);
            _spacing = (long)reportSpacing.TotalMilliseconds;
            _lastReport = Environment.TickCount64 - _spacing;
        }

        protected internal override ReadOutcome Read(byte[] scratch)
        {
            var n = Native.ReadNow(Fd, scratch.AsSpan(0, ReadSize));
            if (n == -1) return ReadOutcome.Small;
            if (n <= 0) return ReadOutcome.Ended;
            ReadOnlySpan<byte> chunk = scratch.AsSpan(0, n);
            while (_lines.Next(ref chunk, out var line)) Dispatch(line[System.Text.Ascii.Trim(line)], _spacing, ref _lastReport, _listener);
            var now = Environment.TickCount64;
            if (now / 1000 != _second) { _second = now / 1000; _reads = 0; }
            // A full read: more is waiting, the reactor keeps its short spacing while that lasts.
            return ++_reads > FloodReads ? ReadOutcome.Flooding : n == ReadSize ? ReadOutcome.Large : ReadOutcome.Small;
        }

        protected internal override ParkedReader Park() => new(Native.DupCloseOnExec(Fd), _lines.Pending.ToArray(), _lines.Skipping);

        // Closed once the reader lets it go (FdReader.End), right after this.
        protected override void Finish() => _copy.Dispose();
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
