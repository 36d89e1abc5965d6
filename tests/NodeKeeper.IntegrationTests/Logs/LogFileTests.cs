using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodeKeeper.Daemon.Logs;

namespace NodeKeeper.IntegrationTests.Logs;

public sealed class LogFileTests : IDisposable
{
    private const int LineCount = 20_000;
    private const long MaxSize = 10_000;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Rotation_keeps_old_files_newest_first_and_loses_no_line()
    {
        string path = _temp.File("app.out.log");
        await using (var log = new LogFile(path, MaxSize, keep: 100, NullLogger.Instance))
            await PumpLines(log);

        string[] rotated = RotatedFiles(path);
        rotated.Length.Should().BeGreaterThan(5, "the size forces several rotations");
        File.Exists($"{path}.{rotated.Length + 1}").Should().BeFalse();
        foreach (string file in rotated.Append(path))
        {
            new FileInfo(file).Length.Should().BeLessThanOrEqualTo(MaxSize);
            File.ReadAllText(file).Should().EndWith("\n", "files are cut between lines");
        }
        NumbersIn(rotated.Reverse().Append(path)).Should().Equal(Enumerable.Range(0, LineCount));
    }

    [Fact]
    public async Task Rotation_keeps_at_most_keep_old_files()
    {
        string path = _temp.File("app.out.log");
        await using (var log = new LogFile(path, MaxSize, keep: 3, NullLogger.Instance))
            await PumpLines(log);

        RotatedFiles(path).Should().Equal($"{path}.1", $"{path}.2", $"{path}.3");
        var kept = NumbersIn([$"{path}.3", $"{path}.2", $"{path}.1", path]);
        kept.Should().Equal(Enumerable.Range(LineCount - kept.Count, kept.Count), "the newest lines are kept, without a gap");
        kept.Count.Should().BeGreaterThan((int)(3 * MaxSize / 12));
    }

    [Fact]
    public async Task Keep_zero_deletes_the_old_file()
    {
        string path = _temp.File("app.out.log");
        await using (var log = new LogFile(path, MaxSize, keep: 0, NullLogger.Instance))
            await PumpLines(log);

        Directory.GetFiles(_temp.Path).Should().Equal(path);
        new FileInfo(path).Length.Should().BeLessThanOrEqualTo(MaxSize);
        var kept = NumbersIn([path]);
        kept.Should().NotBeEmpty().And.Equal(Enumerable.Range(LineCount - kept.Count, kept.Count));
    }

    [Fact]
    public async Task Missing_folder_is_created()
    {
        string path = Path.Combine(_temp.Path, "home", "logs", "api.out.log");
        await using (var log = new LogFile(path, MaxSize, 5, NullLogger.Instance))
            log.Write("hello\n"u8);

        File.ReadAllText(path).Should().Be("hello\n");
    }

    [Fact]
    public async Task Existing_file_is_appended_to_and_a_cut_line_is_ended_first()
    {
        string path = _temp.File("app.out.log");
        await File.WriteAllTextAsync(path, "before\ncut sho");
        await using (var log = new LogFile(path, MaxSize, 5, NullLogger.Instance))
            log.Write("next\n"u8);

        File.ReadAllText(path).Should().Be("before\ncut sho\nnext\n");
    }

    [Fact]
    public async Task Unopenable_file_drops_and_counts_lines_then_writing_resumes_when_it_can_be_opened()
    {
        // Root ignores permissions, so the folder is made unusable by being a regular file.
        string blocker = _temp.File("logs");
        await File.WriteAllTextAsync(blocker, "not a folder");
        string path = Path.Combine(blocker, "app.out.log");
        var logger = new RecordingLogger();
        await using var log = new LogFile(path, MaxSize, 5, logger);

        await LogPipe.PumpAsync(new ChunkedStream(Encoding.ASCII.GetBytes(Lines(0, 1000)), 500), log, new LineFormat(null, false), null, CancellationToken.None);
        await log.FlushAsync();

        log.DroppedLines.Should().Be(1000);
        log.DroppedBytes.Should().Be(Lines(0, 1000).Length);
        log.WrittenBytes.Should().Be(0);
        logger.At(LogLevel.Warning).Should().ContainSingle().Which.Should().Contain(path);

        File.Delete(blocker);
        // Written again and again until a write lands: each one before the file is open again is dropped.
        await Eventually.Until(async () =>
        {
            log.Write("again\n"u8);
            await log.FlushAsync();
            return log.WrittenBytes;
        }, written => written > 0, TimeSpan.FromSeconds(10), "a write to land in the file opened again");

        log.WrittenBytes.Should().Be("again\n".Length, "the file is opened again within about a second");
        File.ReadAllText(path).Should().Be("again\n");
        logger.At(LogLevel.Warning).Should().ContainSingle("one warning per episode");
    }

    [Fact]
    public async Task Write_beyond_the_queue_budget_is_dropped_counted_and_warned_once()
    {
        string path = _temp.File("app.out.log");
        var logger = new RecordingLogger();
        await using var log = new LogFile(path, MaxSize, 5, logger, maxQueuedBytes: 16);

        log.Write("more than sixteen\nbytes\n"u8);
        log.Write("more than sixteen\nbytes\n"u8);
        log.DroppedLines.Should().Be(4);
        log.DroppedBytes.Should().Be(48);
        logger.At(LogLevel.Warning).Should().ContainSingle();

        await log.FlushAsync();
        log.Write("fits\n"u8);
        await log.FlushAsync();

        File.ReadAllText(path).Should().Be("fits\n");
        log.WrittenBytes.Should().Be(5);
    }

    [Fact]
    public async Task Writes_after_dispose_are_dropped_without_throwing()
    {
        string path = _temp.File("app.out.log");
        var log = new LogFile(path, MaxSize, 5, NullLogger.Instance);
        log.Write("kept\n"u8);
        await log.DisposeAsync();

        log.Write("late\n"u8);
        await log.FlushAsync();
        await log.DisposeAsync();

        log.DroppedLines.Should().Be(1);
        File.ReadAllText(path).Should().Be("kept\n");
    }

    private static Task PumpLines(LogFile log) =>
        LogPipe.PumpAsync(new ChunkedStream(Encoding.ASCII.GetBytes(Lines(0, LineCount)), 3000), log, new LineFormat(null, false), null, CancellationToken.None);

    // "line 00012\n": 11 bytes.
    private static string Lines(int from, int count)
    {
        var text = new StringBuilder();
        for (int i = from; i < from + count; i++)
            text.Append("line ").Append(i.ToString("D5", CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    // path.1, path.2, … in order, stopping at the first missing one.
    private static string[] RotatedFiles(string path) =>
        Enumerable.Range(1, int.MaxValue - 1).Select(i => $"{path}.{i}").TakeWhile(File.Exists).ToArray();

    private static List<int> NumbersIn(IEnumerable<string> files) =>
        files.SelectMany(file => File.ReadAllText(file).TrimEnd('\n').Split('\n'))
            .Select(line => int.Parse(line.AsSpan("line ".Length), CultureInfo.InvariantCulture))
            .ToList();
}
