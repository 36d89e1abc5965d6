using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Logs;

/// <summary>Drains an app's stdout or stderr into a <see cref="LogFile"/>, line by line, without ever waiting on the disk.</summary>
public static partial class LogPipe
{
    // Also the longest line forwarded in one piece.
    private const int ChunkSize = FdReactor.ScratchSize;

    /// <summary>
    /// Pumps source into target until its end. An OS pipe is read by <see cref="FdReactor.Logs"/>, the one thread that
    /// reads every app's pipes: an app costs no thread and, between reads, no buffer beyond an unfinished line. A read
    /// that woke up for a line or two makes that thread wait a moment, so a chatty app is read in batches (500,000
    /// lines: a few hundred wake-ups a second, not one per line). Other streams (tests) are pumped asynchronously.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="slot"/>, the pipe's reader parks when <see cref="ReaderPause"/> asks (`nk update`), leaving
    /// a copy of its fd and the start of a line it holds; a pump of the next daemon image goes on from there
    /// (<paramref name="resume"/>). Cancelling <paramref name="ct"/> ends the pump normally (the daemon's pumps end at EOF).
    /// </remarks>
    public static Task PumpAsync(Stream source, LogFile target, LineFormat format, Action<ReadOnlySpan<byte>>? tap, CancellationToken ct,
        ReaderSlot? slot = null, ParkedReader? resume = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(format);
        var cutter = new LineCutter(target, format, tap, resume);
        if (source is System.IO.Pipes.PipeStream pipe) return FdReactor.Logs.Add(new PipeReader(pipe, cutter, slot), ct);
        return PumpStreamAsync(source, cutter, ct);
    }

    private static async Task PumpStreamAsync(Stream source, LineCutter cutter, CancellationToken ct)
    {
        byte[] input = Buffers.Pool.Rent(ChunkSize);
        try
        {
            while (true)
            {
                var carried = cutter.Restore(input);
                int read;
                try { read = await source.ReadAsync(input.AsMemory(carried, ChunkSize - carried), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
                // The stream went away some other way than its end; what was read is still worth keeping.
                catch (Exception error) when (error is IOException or ObjectDisposedException) { break; }
                if (read == 0) break;
                cutter.Consume(input, carried, read);
            }
        }
        finally
        {
            cutter.Finish();
            Buffers.Pool.Return(input);
        }
    }

    /// <summary>An app's stdout or stderr pipe, read by <see cref="FdReactor.Logs"/>.</summary>
    private sealed class PipeReader(System.IO.Pipes.PipeStream pipe, LineCutter cutter, ReaderSlot? slot) : FdReader(pipe.SafePipeHandle, slot)
    {
        protected internal override ReadOutcome Read(byte[] scratch)
        {
            var carried = cutter.Restore(scratch);
            var read = Native.ReadNow(Fd, scratch.AsSpan(carried, ChunkSize - carried));
            if (read == -1) return ReadOutcome.Small;
            // The end, or the pipe went away some other way (what was read is kept all the same).
            if (read <= 0) return ReadOutcome.Ended;
            cutter.Consume(scratch, carried, read);
            return read >= FdReactor.CoalesceBelow ? ReadOutcome.Large : ReadOutcome.Small;
        }

        protected internal override ParkedReader Park() => new(Native.DupCloseOnExec(Fd), cutter.Carried.ToArray(), cutter.JustSplit);

        protected override void Finish() => cutter.Finish();
    }

    /// <summary>
    /// Cuts what a stream gives into whole lines for the log file. Plain lines are copied in large chunks; otherwise each
    /// line gets "&lt;UTC timestamp with ms&gt;Z " (when Timestamps) then Prefix. A partial last line gets a '\n'; a line
    /// longer than 64 KiB is forwarded in pieces, each ending with '\n'. The tap (may be null) sees every chunk of raw
    /// bytes read. Between reads it holds only the start of an unfinished line (in an array of the pool, while there is one).
    /// </summary>
    private sealed class LineCutter
    {
        private readonly LineWriter _lines;
        private Action<ReadOnlySpan<byte>>? _tap;
        private readonly LogFile _target;
        private byte[]? _carried;
        private int _carriedLength;
        // A long line was just cut and given a '\n'; if its own '\n' comes next, it must not make an empty line.
        private bool _justSplit;

        public LineCutter(LogFile target, LineFormat format, Action<ReadOnlySpan<byte>>? tap, ParkedReader? resume)
        {
            _target = target;
            _lines = new LineWriter(target, format, ChunkSize);
            _tap = tap;
            if (resume is not null)
            {
                Keep(resume.Carried);
                _justSplit = resume.Flag;
            }
        }

        /// <summary>The start of a line still being written by the app.</summary>
        public ReadOnlySpan<byte> Carried => _carried.AsSpan(0, _carriedLength);

        public bool JustSplit => _justSplit;

        /// <summary>Puts the unfinished line at the start of input (of <see cref="ChunkSize"/> bytes); its length.</summary>
        public int Restore(Span<byte> input)
        {
            Carried.CopyTo(input);
            return _carriedLength;
        }

        /// <summary>input holds the unfinished line (<paramref name="carried"/> bytes) then <paramref name="read"/> bytes just read.</summary>
        public void Consume(byte[] input, int carried, int read)
        {
            if (_tap is not null)
                _tap = Tap(_tap, input.AsSpan(carried, read), _target);
            if (_justSplit)
            {
                // Only right after a cut, when nothing is carried.
                _justSplit = false;
                if (input[carried] == (byte)'\n')
                {
                    input.AsSpan(carried + 1, --read).CopyTo(input.AsSpan(carried));
                    if (read == 0) return;
                }
            }
            int filled = carried + read;
            int lastNewline = input.AsSpan(carried, read).LastIndexOf((byte)'\n');
            if (lastNewline < 0)
            {
                if (filled == ChunkSize)
                {
                    _lines.Forward(input.AsSpan(0, filled), terminate: true);
                    _justSplit = true;
                    Keep([]);
                }
                else Keep(input.AsSpan(0, filled));
                return;
            }
            int end = carried + lastNewline + 1;
            _lines.Forward(input.AsSpan(0, end), terminate: false);
            Keep(input.AsSpan(end, filled - end));
        }

        /// <summary>The stream ended: an unfinished line is forwarded with a '\n'.</summary>
        public void Finish()
        {
            if (_carriedLength > 0) _lines.Forward(Carried, terminate: true);
            Keep([]);
        }

        private void Keep(ReadOnlySpan<byte> rest)
        {
            if (rest.IsEmpty)
            {
                if (_carried is not null) Buffers.Pool.Return(_carried);
                _carried = null;
                _carriedLength = 0;
                return;
            }
            if (_carried is null || _carried.Length < rest.Length)
            {
                if (_carried is not null) Buffers.Pool.Return(_carried);
                _carried = Buffers.Pool.Rent(rest.Length);
            }
            rest.CopyTo(_carried);
            _carriedLength = rest.Length;
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
        private readonly JsonLines? _json;
        // log.format = "json": the buffer and writer every read reuses (a pipe's lines are written by its one reader).
        private readonly System.Buffers.ArrayBufferWriter<byte>? _jsonBuffer;
        private readonly System.Text.Json.Utf8JsonWriter? _jsonWriter;
        // Timestamp (rewritten for each read) followed by the prefix.
        private readonly byte[] _decoration;
        private readonly int _maxLine;

        public LineWriter(LogFile target, LineFormat format, int maxLine)
        {
            _target = target;
            _timestamps = format.Timestamps;
            _json = format.Json;
            if (_json is not null)
            {
                _jsonBuffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
                _jsonWriter = new System.Text.Json.Utf8JsonWriter(_jsonBuffer, new System.Text.Json.JsonWriterOptions
                {
                    Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
                });
            }
            byte[] prefix = string.IsNullOrEmpty(format.Prefix) ? [] : Encoding.UTF8.GetBytes(format.Prefix);
            _decoration = new byte[(_timestamps ? TimestampLength : 0) + prefix.Length];
            prefix.CopyTo(_decoration, _decoration.Length - prefix.Length);
            _maxLine = maxLine;
        }

        /// <summary>text holds whole lines, except that when terminate is set its last line lacks the '\n', which is added.</summary>
        public void Forward(ReadOnlySpan<byte> text, bool terminate)
        {
            if (_json is { } json)
            {
                ForwardJson(text, json);
                return;
            }
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

        /// <summary>Each line of the read as one JSON object and a '\n' (see <see cref="JsonLines"/>), one time for the read.</summary>
        private void ForwardJson(ReadOnlySpan<byte> text, JsonLines json)
        {
            var stamp = DateTime.UtcNow.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture);
            var (buffer, w) = (_jsonBuffer!, _jsonWriter!);
            buffer.ResetWrittenCount();
            while (!text.IsEmpty)
            {
                int newline = text.IndexOf((byte)'\n');
                var line = newline >= 0 ? text[..newline] : text;
                w.Reset(buffer);
                w.WriteStartObject();
                // Valid UTF-8 goes as it is; other bytes become U+FFFD through a string.
                if (System.Text.Unicode.Utf8.IsValid(line)) w.WriteString("message"u8, line);
                else w.WriteString("message"u8, Encoding.UTF8.GetString(line));
                w.WriteString("timestamp"u8, stamp);
                w.WriteString("type"u8, json.Type);
                w.WriteNumber("process_id"u8, json.Instance);
                w.WriteString("app_name"u8, json.App);
                w.WriteEndObject();
                w.Flush();
                System.Buffers.BuffersExtensions.Write(buffer, "\n"u8);
                text = newline >= 0 ? text[(newline + 1)..] : [];
            }
            _target.Write(buffer.WrittenSpan);
        }
    }
}
