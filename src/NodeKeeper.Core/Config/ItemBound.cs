namespace NodeKeeper.Core.Config;

/// <summary>
/// Finds an array or inline table of more than <see cref="MaxItems"/> items before Tomlyn parses the file. Tomlyn
/// builds several objects per item: a 1 MiB config of 500,000 array items cost nk 4.4 s and 380 MB (7.4 s and 540 MB
/// when the items were also wrong, one error each). One pass over the text, counting the items of each open bracket
/// or brace outside strings and comments, costs milliseconds.
/// </summary>
internal static class ItemBound
{
    /// <summary>Far more than any args, watch or env list means; far fewer than a 1 MiB file can hold.</summary>
    public const int MaxItems = 10_000;

    /// <summary>The deepest nesting of arrays and inline tables Tomlyn reads; it refuses the next level without saying
    /// where, so the bracket that opens it is found here.</summary>
    public const int MaxDepth = 63;

    /// <summary>What is wrong where: an array or inline table of too many items, or one nested too deeply.</summary>
    public enum Problem { ArrayItems, TableKeys, TooDeep }

    /// <summary>Where the first array or inline table with more than <see cref="MaxItems"/> items opens, or the first
    /// bracket or brace past <see cref="MaxDepth"/> levels; null when there is none.</summary>
    public static (Pos Pos, Problem Problem)? Overfull(string text)
    {
        Span<int> items = stackalloc int[MaxDepth];
        Span<bool> inItem = stackalloc bool[MaxDepth];
        Span<Pos> opened = stackalloc Pos[MaxDepth];
        Span<bool> table = stackalloc bool[MaxDepth];
        int depth = 0, line = 1, column = 1;
        for (int i = 0; i < text.Length; i++, column++)
        {
            char c = text[i];
            if (c == '\n') { line++; column = 0; continue; }
            if (c is ' ' or '\t' or '\r') continue;
            if (c == '#')
            {
                while (i + 1 < text.Length && text[i + 1] != '\n') { i++; column++; }
                continue;
            }
            if (c is ']' or '}')
            {
                if (depth > 0) depth--;
                continue;
            }
            int d = depth - 1;
            if (d is >= 0 and < MaxDepth)
            {
                if (c == ',') { inItem[d] = false; continue; }
                if (!inItem[d])
                {
                    // The first character of an item: a value of an array, a key = value of an inline table.
                    inItem[d] = true;
                    if (++items[d] > MaxItems) return (opened[d], table[d] ? Problem.TableKeys : Problem.ArrayItems);
                }
            }
            if (c is '"' or '\'') SkipString(text, ref i, ref line, ref column);
            else if (c is '[' or '{')
            {
                if (depth == MaxDepth) return (new Pos(line, column), Problem.TooDeep);
                items[depth] = 0;
                inItem[depth] = false;
                opened[depth] = new Pos(line, column);
                table[depth] = c == '{';
                depth++;
            }
        }
        return null;
    }

    /// <summary>
    /// Moves <paramref name="i"/> to the last character of the string that opens there ("…", '…', """…""" or '''…'''),
    /// or to the end of its line when a one-line string is not closed (Tomlyn reports that).
    /// </summary>
    private static void SkipString(string text, ref int i, ref int line, ref int column)
    {
        char quote = text[i];
        bool multiline = i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote;
        if (multiline) { i += 2; column += 2; }
        while (i + 1 < text.Length)
        {
            char c = text[i + 1];
            if (c == '\n' && !multiline) return;
            i++;
            column++;
            if (c == '\n') { line++; column = 0; }
            else if (c == '\\' && quote == '"' && i + 1 < text.Length && text[i + 1] != '\n') { i++; column++; }
            else if (c == quote && !multiline) return;
            else if (c == quote && i + 2 < text.Length && text[i + 1] == quote && text[i + 2] == quote)
            {
                i += 2;
                column += 2;
                // A closing """ may follow one or two quotes of the content: """a""""" is a"" then the close.
                for (int extra = 0; extra < 2 && i + 1 < text.Length && text[i + 1] == quote; extra++) { i++; column++; }
                return;
            }
        }
    }
}
