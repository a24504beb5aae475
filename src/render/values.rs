//! Template values made when a template reaches them, not before: a list read item by item
//! and text written in place.

use std::sync::Arc;

use minijinja::Value;

/// A list a template reads item by item: item `i` becomes a template value, `item(i)`, only
/// when the template reaches it, and is dropped after. Kept because a whole-list copy into
/// template values took more memory than the flows themselves (BENCHMARKS.md).
pub fn lazy_list(len: usize, item: impl Fn(usize) -> Value + Send + Sync + 'static) -> Value {
    Value::from_object(LazyList {
        len,
        item: Box::new(item),
    })
}

struct LazyList {
    len: usize,
    item: Box<dyn Fn(usize) -> Value + Send + Sync>,
}

impl std::fmt::Debug for LazyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LazyList({} items)", self.len)
    }
}

impl minijinja::value::Object for LazyList {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_usize()?;
        (i < self.len).then(|| (self.item)(i))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Seq(self.len)
    }
}

/// Text a template prints without it ever being one string: it is written straight into the
/// output when the template reaches it (the matrix's SVG: large at many flows, and a template
/// context copies strings).
/// `{{ x }}` prints it; `x|string` makes it a string for other filters.
pub fn streamed_text(
    write: impl Fn(&mut dyn std::fmt::Write) -> std::fmt::Result + Send + Sync + 'static,
) -> Value {
    Value::from_object(StreamedText(Box::new(write)))
}

type WriteText = dyn Fn(&mut dyn std::fmt::Write) -> std::fmt::Result + Send + Sync;

struct StreamedText(Box<WriteText>);

impl std::fmt::Debug for StreamedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamedText")
    }
}

impl minijinja::value::Object for StreamedText {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Environment;

    #[test]
    fn a_lazy_list_reads_like_a_list_and_makes_only_the_items_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let made = Arc::new(AtomicUsize::new(0));
        let count = made.clone();
        let items = lazy_list(1000, move |i| {
            count.fetch_add(1, Ordering::Relaxed);
            Value::from(i * 2)
        });
        let mut env = Environment::new();
        env.add_template("t", "{{ items|length }} {{ items[3] }} {{ items[999] }}")
            .unwrap();
        let t = env.get_template("t").unwrap();
        let out = t.render(minijinja::context! { items => items.clone() });
        assert_eq!(out.unwrap(), "1000 6 1998");
        assert_eq!(made.load(Ordering::Relaxed), 2);
        env.add_template("all", "{% for x in items %}{{ x }},{% endfor %}")
            .unwrap();
        let small = lazy_list(3, |i| Value::from(i * 2));
        let all = env.get_template("all").unwrap();
        assert_eq!(
            all.render(minijinja::context! { items => small }).unwrap(),
            "0,2,4,"
        );
    }

    #[test]
    fn streamed_text_prints_in_place_and_as_a_string() {
        let mut env = Environment::new();
        env.add_template("t", "[{{ x }}] {{ x|string|length }}")
            .unwrap();
        let x = streamed_text(|w| w.write_str("caf\u{e9}"));
        let out = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { x })
            .unwrap();
        assert_eq!(out, "[caf\u{e9}] 4");
    }
}
