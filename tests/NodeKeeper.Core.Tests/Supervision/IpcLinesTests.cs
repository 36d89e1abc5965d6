using System.Text;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public sealed class IpcLinesTests
{
    /// <summary>Feeds the chunks in turn; every line handed out, as text.</summary>
    private static List<string> Cut(IpcLines lines, params string[] chunks)
    {
        var seen = new List<string>();
        foreach (var c in chunks)
        {
            ReadOnlySpan<byte> chunk = Encoding.UTF8.GetBytes(c);
            while (lines.Next(ref chunk, out var line)) seen.Add(Encoding.UTF8.GetString(line));
            chunk.Length.Should().Be(0, "a chunk is always used up");
        }
        return seen;
    }

    [Fact]
    public void Lines_come_out_whole_and_in_order_however_the_reads_cut_them()
    {
        Cut(new IpcLines(), "\"ready\"\n{\"nk\":\"metrics\"}\n").Should().Equal("\"ready\"", "{\"nk\":\"metrics\"}");
        Cut(new IpcLines(), "{\"nk\":", "\"drai", "ned\"}\n\"rea", "dy\"\n", "\n").Should().Equal("{\"nk\":\"drained\"}", "\"ready\"", "");
        Cut(new IpcLines(), "no end yet").Should().BeEmpty("an unfinished line waits for its end");
    }

    [Fact]
    public void A_line_longer_than_the_limit_is_skipped_and_the_next_one_comes_through()
    {
        var lines = new IpcLines(maxLine: 16);
        var sixteen = new string('x', 16);
        Cut(lines, sixteen + "\n").Should().Equal(sixteen);
        Cut(lines, new string('y', 17) + "\n\"ready\"\n").Should().Equal("\"ready\"");
        // Streamed in pieces, far past the limit: dropped as it goes, nothing of it in the next line.
        Cut(lines, "{\"blob\":\"", new string('z', 10), new string('z', 100_000), "\"}\n\"re", "ady\"\n").Should().Equal("\"ready\"");
        Cut(lines, "0123456789", "012345", "6\nok\n").Should().Equal("ok");
    }

    [Fact]
    public void A_reader_that_takes_over_mid_line_goes_on_from_where_the_last_one_stopped()
    {
        // nk update: the old image's reader parks with the start of a line; the new image's finishes it.
        var first = new IpcLines();
        Cut(first, "\"ready\"\n{\"nk\":\"dra").Should().Equal("\"ready\"");
        var next = new IpcLines();
        next.Resume(first.Pending, first.Skipping);
        Cut(next, "ined\"}\n").Should().Equal("{\"nk\":\"drained\"}");

        // Also in the middle of a line too long to keep: the rest of it is skipped, not taken for a line.
        var skipping = new IpcLines(maxLine: 16);
        Cut(skipping, new string('x', 40)).Should().BeEmpty();
        skipping.Skipping.Should().BeTrue();
        var after = new IpcLines(maxLine: 16);
        after.Resume(skipping.Pending, skipping.Skipping);
        Cut(after, "xxxx\n\"ready\"\n").Should().Equal("\"ready\"");
    }

    [Fact]
    public void A_reader_that_resumes_from_nothing_holds_no_buffer()
    {
        // Every launch resumes; a 4 KiB room per app for nothing was 400 KiB of the daemon's heap at 100 apps.
        var lines = new IpcLines();
        var before = GC.GetAllocatedBytesForCurrentThread();
        lines.Resume([], skipping: false);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(IpcLines.MaxLine);
        lines.Pending.Length.Should().Be(0);
        Cut(lines, "\"ready\"\n").Should().Equal("\"ready\"");
    }
}
