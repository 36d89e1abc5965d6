using System.Diagnostics;
using NodeKeeper.Daemon;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// The preload as every app loads it: its source stays in the app's young heap, so it is ASCII (V8 keeps it one byte
/// a character, not two) and written without its comment lines, and what is left is still the same program.
/// </summary>
public sealed class PreloadSourceTests
{
    private static string Embedded()
    {
        using var s = typeof(Preload).Assembly.GetManifestResourceStream("NodeKeeper.preload.js")!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    [Fact]
    public void The_preload_is_ascii()
    {
        var source = Embedded();
        var at = source.IndexOf(source.FirstOrDefault(c => c > 0x7f));
        at.Should().Be(-1, $"a character past ASCII makes V8 hold the whole source two bytes a character (line {source[..Math.Max(0, at)].Count(c => c == '\n') + 1})");
    }

    [Fact]
    public void No_template_literal_of_the_preload_spans_lines_so_its_comment_lines_can_go()
    {
        var lines = Embedded().Split('\n');
        var odd = lines.Select((l, i) => (Line: i + 1, Ticks: l.Replace("\\`", "").Count(c => c == '`'))).Where(x => x.Ticks % 2 == 1).ToList();
        odd.Should().BeEmpty("a line with an odd number of backticks opens a template literal that goes on, where a line starting with // is text");
    }

    [Fact]
    public void Comment_lines_are_left_empty_and_code_with_slashes_is_kept()
    {
        var source = "'use strict';\n// a comment\n  // an indented one\nconst url = 'http://x'; // a trailing one\n\nf(); //\n";

        var stripped = Preload.WithoutCommentLines(source);

        stripped.Should().Be("'use strict';\n\n\nconst url = 'http://x'; // a trailing one\n\nf(); //\n");
        stripped.Split('\n').Should().HaveCount(source.Split('\n').Length, "line numbers stay as in the file");
    }

    [Fact]
    public async Task The_preload_as_written_is_valid_javascript_and_a_third_smaller()
    {
        var text = Preload.Text();
        text.Length.Should().BeLessThan(Embedded().Length * 3 / 4);
        var file = Path.Combine(Path.GetTempPath(), $"nk-preload-{Guid.NewGuid():N}.js");
        await File.WriteAllTextAsync(file, text);
        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", ["--check", file]) { RedirectStandardError = true })!;
            var err = await node.StandardError.ReadToEndAsync();
            await node.WaitForExitAsync();
            node.ExitCode.Should().Be(0, err);
        }
        finally { File.Delete(file); }
    }
}
