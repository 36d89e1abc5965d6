using System.Runtime.InteropServices;

namespace NodeKeeper.Daemon.Processes;

/// <summary>
/// What a reader did with one readiness of its fd: read a lot (the fd is busy), a little (or nothing after all), reached
/// the end, or read so often that it should wait a moment (its writer floods).
/// </summary>
public enum ReadOutcome { Large, Small, Ended, Flooding }

/// <summary>One fd read by an <see cref="FdReactor"/>: an app's stdout or stderr pipe, or its IPC channel.</summary>
public abstract class FdReader
{
    private readonly SafeHandle _handle;
    private bool _held;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The fd stays open while it is read (however its owner disposes of it) and is put in non-blocking mode.</summary>
    protected FdReader(SafeHandle handle, ReaderSlot? slot)
    {
        _handle = handle;
        handle.DangerousAddRef(ref _held);
        Fd = (int)handle.DangerousGetHandle();
        Slot = slot;
        Native.SetNonBlocking(Fd);
    }

    public int Fd { get; }

    /// <summary>Where the reader parks during `nk update` (null: it never parks).</summary>
    public ReaderSlot? Slot { get; }

    /// <summary>Completes once the reader has ended (its fd reached the end, failed, or the reading was cancelled).</summary>
    public Task Completion => _ended.Task;

    /// <summary>The fd is readable: one read into <paramref name="scratch"/> (the reactor's, shared by all its readers), all of it handed on.</summary>
    protected internal abstract ReadOutcome Read(byte[] scratch);

    /// <summary>What the reader leaves for the next daemon image: a copy of its fd and what it holds of an unfinished line.</summary>
    protected internal abstract ParkedReader Park();

    /// <summary>The fd ended or the reading was cancelled: hand on what is held. Called once, on the reactor's thread.</summary>
    protected abstract void Finish();

    internal void End(Exception? error = null)
    {
        try { Finish(); }
        catch (Exception ex) { error ??= ex; }
        finally
        {
            Slot?.End();
            if (_held) _handle.DangerousRelease();
            _held = false;
            if (error is null) _ended.TrySetResult(); else _ended.TrySetException(error);
        }
    }
}

/// <summary>
/// One thread that reads many fds: it waits on all of them at once (epoll, level-triggered) and hands each readable one
/// to its <see cref="FdReader"/>, which reads once into a buffer shared by all. An app costs the daemon no thread and no
/// buffer while it writes nothing; what it holds between reads is the start of an unfinished line, if any.
/// </summary>
/// <remarks>
/// After a round in which every read was small (apps writing a line at a time), the log pipes' thread waits 2 ms
/// before it looks again: the pipes (1 MiB) gather a batch meanwhile and the apps never block,
/// so a chatty app costs a few hundred wake-ups a second at most, whatever the number of apps. A reader that floods is
/// left out of the set for <see cref="FloodPause"/>. The thread also waits on <see cref="ReaderPause"/>: when `nk update`
/// raises it, every reader parks in its slot at once (each byte read so far is handed on), and the thread waits until
/// the pause is released or the image is replaced.
/// </remarks>
public sealed class FdReactor
{
    public const int ScratchSize = 64 * 1024;
    public const int CoalesceBelow = 16 * 1024;
    private const long FloodPause = 10;
    private const ulong PauseToken = ulong.MaxValue, WakeToken = ulong.MaxValue - 1;

    /// <summary>The apps' stdout and stderr pipes.</summary>
    public static readonly FdReactor Logs = new("log pipes", coalesceMs: 2);
    /// <summary>
    /// The apps' IPC channels: their messages are not held up by a log burst. A message that comes after a quiet moment
    /// is read at once; while messages keep coming (hundreds of apps each reporting every few seconds), the thread looks
    /// at most every <see cref="IpcIdleRoundMs"/>, so it wakes for many at a time, and every <see cref="IpcRoundMs"/>
    /// while the daemon awaits an answer (<see cref="Hurry"/>: a start's readiness, a drain, a capture). A channel that
    /// floods is paced by <see cref="ReadOutcome.Flooding"/>.
    /// </summary>
    public static readonly FdReactor Ipc = new("ipc channels", coalesceMs: 0, roundMs: IpcRoundMs, idleRoundMs: IpcIdleRoundMs);

    /// <summary>The IPC thread's shortest spacing of two rounds while the daemon awaits an answer: 20 wake-ups a second at most.</summary>
    public const int IpcRoundMs = 50;
    /// <summary>
    /// The spacing while only reports come: 4 wake-ups a second at most. A wake-up costs this machine's daemon about
    /// 0.1 ms of CPU, so at 300 idle apps the 50 ms spacing alone cost 3 ms of CPU a second; a report waits 0.25 s at most.
    /// </summary>
    public const int IpcIdleRoundMs = 250;
    /// <summary>How long a <see cref="Hurry"/> keeps the short spacing.</summary>
    public static readonly TimeSpan HurryFor = TimeSpan.FromSeconds(10);
    /// <summary>Rounds closer than this many spacings apart count as a stream (see <see cref="Loop"/>).</summary>
    private const int StreamGap = 2;

    private readonly string _name;
    private readonly int _coalesceMs;
    private readonly int _roundMs;
    private readonly int _idleRoundMs;
    private long _hurryUntil;
    private readonly object _spacing = new();
    private bool _hurried;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, FdReader> _readers = [];
    private readonly List<(FdReader Reader, ulong Token)> _cancelled = [];
    private readonly List<(ulong Token, long Due)> _deferred = [];
    private ulong _next;
    private int _epoll = -1;
    private int _wake = -1;

    private FdReactor(string name, int coalesceMs, int roundMs = 0, int idleRoundMs = 0)
    {
        _name = name;
        _coalesceMs = coalesceMs;
        _roundMs = roundMs;
        _idleRoundMs = Math.Max(roundMs, idleRoundMs);
    }

    /// <summary>
    /// The daemon awaits a message (an app's readiness, a drain's end, a capture): for <see cref="HurryFor"/> the rounds
    /// keep the short spacing, and a wait for the long one ends now.
    /// </summary>
    public void Hurry()
    {
        if (_roundMs == 0) return;
        var until = Environment.TickCount64 + (long)HurryFor.TotalMilliseconds;
        if (Volatile.Read(ref _hurryUntil) >= until - 100) return;
        Volatile.Write(ref _hurryUntil, until);
        lock (_spacing)
        {
            _hurried = true;
            Monitor.Pulse(_spacing);
        }
    }

    /// <summary>The spacing of rounds now: short while hurried, else the idle one.</summary>
    private int RoundMs() => Environment.TickCount64 < Volatile.Read(ref _hurryUntil) ? _roundMs : _idleRoundMs;

    /// <summary>Waits until <paramref name="since"/> is a round's spacing ago; a <see cref="Hurry"/> shortens the wait.</summary>
    private void WaitOutSpacing(long since)
    {
        while (true)
        {
            var left = since + RoundMs() - Environment.TickCount64;
            if (left <= 0) return;
            lock (_spacing)
            {
                if (!_hurried) Monitor.Wait(_spacing, (int)left);
                _hurried = false;
            }
        }
    }

    /// <summary>Starts reading the reader's fd; its <see cref="FdReader.Completion"/> says when it has ended.</summary>
    public Task Add(FdReader reader, CancellationToken ct = default)
    {
        ulong token;
        lock (_lock)
        {
            EnsureStarted();
            token = _next++;
            _readers[token] = reader;
            Native.EpollAdd(_epoll, reader.Fd, Native.EPOLLIN, token);
        }
        if (ct.CanBeCanceled)
            ct.Register(() =>
            {
                lock (_lock) _cancelled.Add((reader, token));
                Native.RaiseEvent(_wake);
            });
        return reader.Completion;
    }

    private void EnsureStarted()
    {
        if (_epoll >= 0) return;
        _epoll = Native.EpollCreate();
        _wake = Native.CreateEvent();
        Native.EpollAdd(_epoll, _wake, Native.EPOLLIN, WakeToken);
        Native.EpollAdd(_epoll, ReaderPause.Fd, Native.EPOLLIN, PauseToken);
        new Thread(Loop, maxStackSize: 256 * 1024) { IsBackground = true, Name = _name }.Start();
    }

    private void Loop()
    {
        var events = new byte[128 * Native.EpollEventSize];
        var scratch = new byte[ScratchSize];
        var lastRound = long.MinValue / 2;
        var previousRound = long.MinValue / 2;
        while (true)
        {
            var n = Native.EpollWait(_epoll, events, WaitMs());
            if (n > 0 && _roundMs > 0)
            {
                // Two rounds in quick succession: the next one waits out the spacing, and reads what gathered meanwhile.
                if (Environment.TickCount64 - lastRound < RoundMs())
                {
                    WaitOutSpacing(lastRound);
                    n = Native.EpollWait(_epoll, events, 0);
                }
                previousRound = lastRound;
                lastRound = Environment.TickCount64;
            }
            Resume();
            var busy = false;
            var flooded = false;
            for (var i = 0; i < n; i++)
            {
                var token = Native.EpollData(events, i);
                if (token == WakeToken) { Native.ClearEvent(_wake); EndCancelled(); continue; }
                if (token == PauseToken) { ParkAll(); continue; }
                FdReader? reader;
                lock (_lock) _readers.TryGetValue(token, out reader);
                if (reader is null) continue;
                ReadOutcome outcome;
                try { outcome = reader.Read(scratch); }
                catch (Exception ex)
                {
                    // A bug of a reader's must not stop every other app's logs: that reader ends, with the error.
                    Remove(token, reader, ex);
                    continue;
                }
                switch (outcome)
                {
                    case ReadOutcome.Ended: Remove(token, reader, null); break;
                    case ReadOutcome.Large: busy = true; break;
                    case ReadOutcome.Flooding: Defer(token, reader); flooded = true; break;
                }
            }
            // A channel with more to read than one read takes, or one that floods (then paced by its deferral), is not
            // held to the idle spacing as well: the app's sends would pile up in its memory past 64 KiB a second.
            if (busy || flooded) Hurry();
            if (n > 0 && !busy && _coalesceMs > 0) Thread.Sleep(_coalesceMs);
            // While rounds follow each other closely (hundreds of apps reporting), the spacing is waited out at once:
            // the next wait then finds the messages that gathered meanwhile and returns without sleeping, so a round
            // costs one wake-up (the sleep's) instead of two (the first message's, then the sleep's).
            if (n > 0 && _roundMs > 0 && lastRound - previousRound < StreamGap * RoundMs()) WaitOutSpacing(lastRound);
        }
    }

    private void Remove(ulong token, FdReader reader, Exception? error)
    {
        lock (_lock)
        {
            if (!_readers.Remove(token)) return;
            _deferred.RemoveAll(d => d.Token == token);
        }
        Native.EpollRemove(_epoll, reader.Fd);
        reader.End(error);
    }

    private void EndCancelled()
    {
        List<(FdReader, ulong)> cancelled;
        lock (_lock)
        {
            cancelled = [.. _cancelled];
            _cancelled.Clear();
        }
        foreach (var (reader, token) in cancelled) Remove(token, reader, null);
    }

    private void Defer(ulong token, FdReader reader)
    {
        Native.EpollModify(_epoll, reader.Fd, 0, token);
        lock (_lock) _deferred.Add((token, Environment.TickCount64 + FloodPause));
    }

    /// <summary>How long the next wait may last: until the first deferred reader is due again, else without end.</summary>
    private int WaitMs()
    {
        lock (_lock)
        {
            if (_deferred.Count == 0) return -1;
            var due = _deferred.Min(d => d.Due);
            return (int)Math.Clamp(due - Environment.TickCount64, 0, FloodPause);
        }
    }

    private void Resume()
    {
        lock (_lock)
        {
            if (_deferred.Count == 0) return;
            var now = Environment.TickCount64;
            for (var i = _deferred.Count - 1; i >= 0; i--)
            {
                var (token, due) = _deferred[i];
                if (due > now) continue;
                _deferred.RemoveAt(i);
                if (_readers.TryGetValue(token, out var reader)) Native.EpollModify(_epoll, reader.Fd, Native.EPOLLIN, token);
            }
        }
    }

    /// <summary>`nk update`: every reader says where it stands, then this thread waits for the pause to end.</summary>
    private void ParkAll()
    {
        List<FdReader> readers;
        lock (_lock) readers = [.. _readers.Values];
        foreach (var r in readers)
        {
            if (r.Slot is not { } slot) continue;
            try { slot.Settle(r.Park()); }
            catch (IOException) { /* no fd to copy: the slot stays unsettled and the update gives up */ }
        }
        ReaderPause.Wait();
    }
}
