using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Logs;

/// <summary>Drains an app's stdout or stderr into a <see cref="LogFile"/>, line by line, without ever waiting on the disk.</summary>
public static partial class LogPipe
{
    // Also the longest line forwarded in one piece.
    private const int ChunkSize = 64 * 1024;

    // A read this small means the app writes line by line and the reader woke up for each line. Waiting a moment
    // lets the (1 MiB) pipe gather a chunk: the app never blocks meanwhile, and lines are late by 2 ms at most.
    private const int CoalesceBelow = 16 * 1024;
    private const int CoalesceMs = 2;

    /// <summary>
    /// Pumps an OS pipe on a thread of its own with blocking reads. Async reads of a pipe go through epoll, which wakes
    /// for every write of the app (500,000 lines made 26,000 wakeups and 45,000 sched_yields of the thread pool); a
    /// blocking read that sleeps briefly after a small chunk costs a few hundred wakeups a second at most.
    /// Other streams (tests) are pumped asynchronously.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="slot"/>, the pump also parks when <see cref="ReaderPause"/> asks (`nk update`), leaving its
    /// fd and the start of a line it holds; a pump of the next daemon image goes on from there (<paramref name="resume"/>).
    /// </remarks>
    public static Task PumpAsync(Stream source, LogFile target, LineFormat format, Action<ReadOnlySpan<byte>>? tap, CancellationToken ct,
        ReaderSlot? slot = null, ParkedReader? resume = null)
    {
        if (source is not System.IO.Pipes.PipeStream) return PumpCoreAsync(source, target, format, tap, blocking: false, ct, null, resume);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                // Every await below completes synchronously in blocking mode: this runs on this thread to the end.
                PumpCoreAsync(source, target, format, tap, blocking: true, ct, slot, resume).GetAwaiter().GetResult();
                done.TrySetResult();
            }
            catch (Exception ex) { done.TrySetException(ex); }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "log pipe" };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// A blocking read cannot be cancelled, so with a token that can cancel, wait for data in slices and look at the
    /// token between them. The daemon's pumps end at EOF and pass no such token: they never poll.
    /// </summary>
    private static bool WaitReadable(System.IO.Pipes.PipeStream pipe, CancellationToken ct)
    {
        var fd = (int)pipe.SafePipeHandle.DangerousGetHandle();
        while (!ct.IsCancellationRequested)
            if (Native.WaitReadable(fd, 50)) return true;
        return false;
    }

    /// <summary>Reads source until EOF (or until ct is cancelled, which ends the pump normally), forwarding whole lines to target.
    /// Plain lines are copied in large chunks; otherwise each line gets "&lt;UTC timestamp with ms&gt;Z " (when Timestamps) then Prefix.
    /// A partial last line gets a '\n'; a line longer than 64 KiB is forwarded in pieces, each ending with '\n'.
    /// tap (may be null) sees every chunk of raw bytes read.</summary>
    private static async Task PumpCoreAsync(Stream source, LogFile target, LineFormat format, Action<ReadOnlySpan<byte>>? tap, bool blocking,
        CancellationToken ct, ReaderSlot? slot, ParkedReader? resume)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(format);

        byte[] input = Buffers.Pool.Rent(ChunkSize);
        var lines = new LineWriter(target, format, input.Length);
        // Bytes after the last '\n' seen so far: the start of a line still being written by the app.
        int carried = 0;
        // A long line was just cut and given a '\n'; if its own '\n' comes next, it must not make an empty line.
        bool justSplit = false;
        if (resume is not null)
        {
            resume.Carried.CopyTo(input, 0);
            carried = resume.Carried.Length;
            justSplit = resume.Flag;
        }
        var fd = blocking ? (int)((System.IO.Pipes.PipeStream)source).SafePipeHandle.DangerousGetHandle() : -1;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    if (blocking && ct.CanBeCanceled && !WaitReadable((System.IO.Pipes.PipeStream)source, ct))
                        break;
                    // Every byte read so far is in the log file's hands: the fd and the unfinished line can go on.
                    if (slot is not null && !Native.WaitReadableUnless(fd, ReaderPause.Fd))
                    {
                        slot.Park(new ParkedReader(Native.DupCloseOnExec(fd), input[..carried], justSplit));
                        continue;
                    }
                    read = blocking
                        ? source.Read(input.AsSpan(carried))
                        : await source.ReadAsync(input.AsMemory(carried), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception error) when (error is IOException or ObjectDisposedException)
                {
                    // The pipe went away some other way than EOF; what was read is still worth keeping.
                    break;
                }
                if (read == 0)
                    break;

                if (tap is not null)
                    tap = Tap(tap, input.AsSpan(carried, read), target);
                if (justSplit)
                {
                    justSplit = false;
                    if (input[0] == (byte)'\n')
                    {
                        input.AsSpan(1, --read).CopyTo(input);
                        if (read == 0)
                            continue;
                    }
                }

                int filled = carried + read;
                int lastNewline = input.AsSpan(carried, read).LastIndexOf((byte)'\n');
                if (lastNewline < 0)
                {
                    carried = filled;
                    if (carried == input.Length)
                    {
                        lines.Forward(input.AsSpan(0, carried), terminate: true);
                        carried = 0;
                        justSplit = true;
                    }
                    continue;
                }
                int end = carried + lastNewline + 1;
                lines.Forward(input.AsSpan(0, end), terminate: false);
                carried = filled - end;
                input.AsSpan(end, carried).CopyTo(input);
                if (blocking && read < CoalesceBelow)
                    Thread.Sleep(CoalesceMs);
            }
            if (carried > 0)
                lines.Forward(input.AsSpan(0, carried), terminate: true);
        }
        finally
        {
            slot?.End();
            Buffers.Pool.Return(input);
        }
    }

    // A tap that throws must not stop the pump (the app would block on a full pipe): it is dropped instead.
    private static Action<ReadOnlySpan<byte>>? Tap(Action<ReadOnlySpan<byte>> tap, ReadOnlySpan<byte> data, LogFile target)
    {
        try
        {
            tap(data);
            return tap;
        }
        catch (Exception error)
        {
            LogTapFailed(target.Logger, error, target.Path);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The output tap of {Path} failed and was removed; the log itself keeps going")]
    private static partial void LogTapFailed(ILogger logger, Exception error, string path);

    /// <summary>Decorates lines as the format asks and hands them to the log file in few, whole-line writes.</summary>
    private sealed class LineWriter
    {
        private const string TimestampFormat = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z '";
        private const int TimestampLength = 25; // "2025-01-31T12:34:56.789Z "

        private readonly LogFile _target;
        private readonly bool _timestamps;
        // Timestamp (rewritten for each read) followed by the prefix.
        private readonly byte[] _decoration;
        private readonly int _maxLine;

        public LineWriter(LogFile target, LineFormat format, int maxLine)
        {
            _target = target;
            _timestamps = format.Timestamps;
            byte[] prefix = string.IsNullOrEmpty(format.Prefix) ? [] : Encoding.UTF8.GetBytes(format.Prefix);
            _decoration = new byte[(_timestamps ? TimestampLength : 0) + prefix.Length];
            prefix.CopyTo(_decoration, _decoration.Length - prefix.Length);
            _maxLine = maxLine;
        }

        /// <summary>text holds whole lines, except that when terminate is set its last line lacks the '\n', which is added.</summary>
        public void Forward(ReadOnlySpan<byte> text, bool terminate)
        {
            if (_decoration.Length == 0 && !terminate)
            {
                _target.Write(text);
                return;
            }
            // Room for the longest line plus its decoration and an added '\n', so every line fits once flushed.
            // Rented per call rather than per pump: pumps live as long as their app and mostly sit idle.
            byte[] output = Buffers.Pool.Rent(_maxLine + _decoration.Length + 1);
            if (_timestamps)
            {
                // One stamp per read: the lines of one read arrived together.
                DateTime.UtcNow.TryFormat(_decoration.AsSpan(0, TimestampLength), out _, TimestampFormat, CultureInfo.InvariantCulture);
            }
            int length = 0;
            while (!text.IsEmpty)
            {
                int newline = text.IndexOf((byte)'\n');
                int lineLength = newline >= 0 ? newline + 1 : text.Length;
                int needed = _decoration.Length + lineLength + (newline >= 0 ? 0 : 1);
                if (length + needed > output.Length)
                {
                    _target.Write(output.AsSpan(0, length));
                    length = 0;
                }
                _decoration.CopyTo(output.AsSpan(length));
                length += _decoration.Length;
                text[..lineLength].CopyTo(output.AsSpan(length));
                length += lineLength;
                if (newline < 0)
                    output[length++] = (byte)'\n';
                text = text[lineLength..];
            }
            _target.Write(output.AsSpan(0, length));
            Buffers.Pool.Return(output);
        }
    }
}
