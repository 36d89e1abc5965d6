using System.Globalization;
using System.IO.Pipes;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodeKeeper.Daemon.Logs;

namespace NodeKeeper.IntegrationTests.Logs;

public sealed class LogPipeTests : IDisposable
{
    private static readonly LineFormat Plain = new(null, false);
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Hundred_thousand_lines_through_a_pipe_arrive_whole_and_in_order()
    {
        const int count = 100_000;
        string path = _temp.File("app.out.log");
        await using (var log = new LogFile(path, maxSize: 0, keep: 5, NullLogger.Instance))
        {
            using var server = new AnonymousPipeServerStream(PipeDirection.Out);
            using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
            var pump = LogPipe.PumpAsync(client, log, Plain, tap: null, CancellationToken.None);
            // Writes of odd sizes, as an app's console.log batches would make them.
            var app = Task.Run(() =>
            {
                byte[] all = Encoding.ASCII.GetBytes(Lines(0, count));
                var random = new Random(7);
                for (int at = 0; at < all.Length;)
                {
                    int size = Math.Min(all.Length - at, random.Next(1, 9000));
                    server.Write(all, at, size);
                    at += size;
                }
                server.Dispose();
            });
            await app;
            await pump;
        }

        ReadNumbers(File.ReadAllText(path), "line ").Should().Equal(Enumerable.Range(0, count));
    }

    [Theory]
    [InlineData("[1] ", true)]
    [InlineData("[1] ", false)]
    [InlineData(null, true)]
    public async Task Prefix_and_timestamp_decorate_every_line(string? prefix, bool timestamps)
    {
        const int count = 5_000;
        string path = _temp.File("app.out.log");
        var before = DateTime.UtcNow.AddSeconds(-1);
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(Chunked(Lines(0, count), maxRead: 3000), log, new LineFormat(prefix, timestamps), null, CancellationToken.None);
        var after = DateTime.UtcNow.AddSeconds(1);

        string[] lines = File.ReadAllText(path).Split('\n');
        lines[^1].Should().BeEmpty("the file ends with a newline");
        lines = lines[..^1];
        lines.Should().HaveCount(count);
        var shape = new Regex(
            "^" + (timestamps ? @"(?<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) " : "") + Regex.Escape(prefix ?? "") + @"line (?<n>\d+)$");
        for (int i = 0; i < count; i++)
        {
            var match = shape.Match(lines[i]);
            match.Success.Should().BeTrue($"line {i} is '{lines[i]}'");
            int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture).Should().Be(i);
            if (timestamps)
            {
                var time = DateTime.ParseExact(match.Groups["time"].Value, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
                time.Should().BeOnOrAfter(before).And.BeOnOrBefore(after);
            }
        }
    }

    [Theory]
    [InlineData(null, "a\nb\n")]
    [InlineData("[0] ", "[0] a\n[0] b\n")]
    public async Task Partial_last_line_gets_a_newline(string? prefix, string expected)
    {
        string path = _temp.File("app.out.log");
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(new MemoryStream("a\nb"u8.ToArray()), log, new LineFormat(prefix, false), null, CancellationToken.None);

        File.ReadAllText(path).Should().Be(expected);
    }

    [Fact]
    public async Task Json_format_escapes_each_line_and_replaces_bytes_that_are_not_utf8()
    {
        string path = _temp.File("app.out.log");
        // Quotes, a tab, a backslash, text that is not ASCII, a lone 0xFF byte, an empty line and a last line without '\n',
        // read in pieces of 3 bytes so that reads end inside lines and inside a character.
        byte[] input = [.. "say \"hi\"\tC:\\dir\nnaïve ✓\n"u8, 0x61, 0xFF, 0x62, (byte)'\n', (byte)'\n', .. "last"u8];
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(new ChunkedStream(input, 3), log, new LineFormat(null, false, new JsonLines("web", 1, "out")), null, CancellationToken.None);

        var lines = File.ReadAllText(path).Split('\n');
        lines[^1].Should().BeEmpty("every object ends with a newline");
        var messages = lines[..^1].Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        messages.Select(o => o.GetProperty("message").GetString()).Should().Equal("say \"hi\"\tC:\\dir", "naïve ✓", "a\uFFFDb", "", "last");
        messages.Should().OnlyContain(o => o.GetProperty("app_name").GetString() == "web" && o.GetProperty("process_id").GetInt32() == 1
            && o.GetProperty("type").GetString() == "out");
    }

    [Fact]
    public async Task Two_pumps_into_one_file_never_interleave_within_a_line()
    {
        const int count = 50_000;
        string path = _temp.File("app.out.log");
        string padding = new('x', 40);
        string Source(string name) =>
            string.Concat(Enumerable.Range(0, count).Select(i => $"{name} {i:D6} {padding}\n"));

        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
        {
            await Task.WhenAll(
                Task.Run(() => LogPipe.PumpAsync(Chunked(Source("A"), 5000, seed: 1), log, Plain, null, CancellationToken.None)),
                Task.Run(() => LogPipe.PumpAsync(Chunked(Source("B"), 5000, seed: 2), log, new LineFormat("[1] ", false), null, CancellationToken.None)));
        }

        var shape = new Regex(@"^(?:(?<src>A)|\[1\] (?<src>B)) (?<n>\d{6}) x{40}$");
        var next = new Dictionary<string, int> { ["A"] = 0, ["B"] = 0 };
        foreach (string line in File.ReadAllText(path).TrimEnd('\n').Split('\n'))
        {
            var match = shape.Match(line);
            match.Success.Should().BeTrue($"'{line}' should be one whole line");
            string source = match.Groups["src"].Value;
            int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture).Should().Be(next[source]++);
        }
        next.Should().Equal(new Dictionary<string, int> { ["A"] = count, ["B"] = count });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("[2] ")]
    public async Task Line_longer_than_64_KiB_is_split_into_pieces_that_end_with_a_newline(string? prefix)
    {
        string path = _temp.File("app.out.log");
        string longLine = new('x', 150_000);
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(Chunked($"before\n{longLine}\nafter\n", 7000), log, new LineFormat(prefix, false), null, CancellationToken.None);

        string text = File.ReadAllText(path);
        text.Should().EndWith("\n");
        string[] lines = text[..^1].Split('\n').Select(l => l[(prefix?.Length ?? 0)..]).ToArray();
        lines[0].Should().Be("before");
        lines[^1].Should().Be("after");
        string[] pieces = lines[1..^1];
        pieces.Should().HaveCountGreaterThan(2).And.OnlyContain(p => p.Length > 0 && p.Length <= 64 * 1024);
        string.Concat(pieces).Should().Be(longLine);
    }

    [Theory]
    [InlineData(64 * 1024)]
    [InlineData(128 * 1024)]
    public async Task Line_cut_right_before_its_own_newline_leaves_no_empty_line(int length)
    {
        string path = _temp.File("app.out.log");
        string longLine = new('y', length);
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(new MemoryStream(Encoding.ASCII.GetBytes($"{longLine}\nnext\n")), log, Plain, null, CancellationToken.None);

        string[] lines = File.ReadAllText(path).TrimEnd('\n').Split('\n');
        lines.Should().NotContain(string.Empty);
        string.Concat(lines[..^1]).Should().Be(longLine);
        lines[^1].Should().Be("next");
    }

    [Fact]
    public async Task Tap_sees_every_byte_read_and_a_failing_tap_does_not_stop_the_pump()
    {
        string input = Lines(0, 20_000);
        var seen = new MemoryStream();
        string path = _temp.File("app.err.log");
        string otherPath = _temp.File("other.err.log");
        var logger = new RecordingLogger();
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
            await LogPipe.PumpAsync(Chunked(input, 4000), log, Plain, bytes => seen.Write(bytes), CancellationToken.None);
        await using (var other = new LogFile(otherPath, 0, 5, logger))
            await LogPipe.PumpAsync(Chunked(input, 4000), other, Plain, _ => throw new InvalidOperationException("bug in tap"), CancellationToken.None);

        Encoding.ASCII.GetString(seen.ToArray()).Should().Be(input);
        File.ReadAllText(path).Should().Be(input);
        File.ReadAllText(otherPath).Should().Be(input);
        logger.At(LogLevel.Error).Should().ContainSingle();
    }

    [Fact]
    public async Task Cancelled_pump_ends_and_keeps_the_partial_line()
    {
        string path = _temp.File("app.out.log");
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        using var cts = new CancellationTokenSource();
        await using (var log = new LogFile(path, 0, 5, NullLogger.Instance))
        {
            var tapped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            long seen = 0;
            var pump = LogPipe.PumpAsync(client, log, Plain, bytes =>
            {
                if (Interlocked.Add(ref seen, bytes.Length) == "whole\npartial".Length)
                    tapped.TrySetResult();
            }, cts.Token);
            server.Write("whole\npartial"u8);
            await tapped.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await cts.CancelAsync();
            await pump.WaitAsync(TimeSpan.FromSeconds(10));
        }

        File.ReadAllText(path).Should().Be("whole\npartial\n");
    }

    private static string Lines(int from, int count)
    {
        var text = new StringBuilder();
        for (int i = from; i < from + count; i++)
            text.Append("line ").Append(i.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    private static ChunkedStream Chunked(string text, int maxRead, int seed = 1) => new(Encoding.UTF8.GetBytes(text), maxRead, seed);

    private static List<int> ReadNumbers(string text, string prefix)
    {
        text.Should().EndWith("\n");
        return text[..^1].Split('\n').Select(line =>
        {
            line.Should().StartWith(prefix);
            return int.Parse(line.AsSpan(prefix.Length), CultureInfo.InvariantCulture);
        }).ToList();
    }
}
