//! A tiny reader over a simd-json tape: look up object fields and skip
//! values without building a DOM, so parsing allocates nothing per message.

use simd_json::StaticNode;
use simd_json::tape::Node;

/// Index just past the value starting at `i`.
#[inline]
pub fn skip(tape: &[Node<'_>], i: usize) -> usize {
    match tape.get(i) {
        Some(Node::Object { count, .. }) | Some(Node::Array { count, .. }) => i + 1 + count,
        _ => i + 1,
    }
}

/// Iterates `(key, value_index)` of the object starting at `obj`.
pub struct Fields<'t, 'i> {
    tape: &'t [Node<'i>],
    next: usize,
    left: usize,
}

impl<'t, 'i> Iterator for Fields<'t, 'i> {
    type Item = (&'i str, usize);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let key = match self.tape.get(self.next)? {
            Node::String(s) => *s,
            _ => return None,
        };
        let v = self.next + 1;
        self.next = skip(self.tape, v);
        self.left -= 1;
        Some((key, v))
    }
}

/// Fields of the object at `obj`; empty if it is not an object.
#[inline]
pub fn fields<'t, 'i>(tape: &'t [Node<'i>], obj: usize) -> Fields<'t, 'i> {
    let left = match tape.get(obj) {
        Some(Node::Object { len, .. }) => *len,
        _ => 0,
    };
    Fields {
        tape,
        next: obj + 1,
        left,
    }
}

/// Iterates the element indices of the array at `arr`.
pub struct Elems<'t, 'i> {
    tape: &'t [Node<'i>],
    next: usize,
    left: usize,
}

impl Iterator for Elems<'_, '_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let i = self.next;
        self.next = skip(self.tape, i);
        self.left -= 1;
        Some(i)
    }
}

/// Elements of the array at `arr`; empty if it is not an array.
#[inline]
pub fn elems<'t, 'i>(tape: &'t [Node<'i>], arr: usize) -> Elems<'t, 'i> {
    let left = match tape.get(arr) {
        Some(Node::Array { len, .. }) => *len,
        _ => 0,
    };
    Elems {
        tape,
        next: arr + 1,
        left,
    }
}

#[inline]
pub fn str_at<'i>(tape: &[Node<'i>], i: usize) -> Option<&'i str> {
    match tape.get(i) {
        Some(Node::String(s)) => Some(*s),
        _ => None,
    }
}

/// An integer node (or an integer written as a string, as Bybit/OKX do).
#[inline]
pub fn int_at(tape: &[Node<'_>], i: usize) -> Option<i64> {
    match tape.get(i) {
        Some(Node::Static(StaticNode::I64(v))) => Some(*v),
        Some(Node::Static(StaticNode::U64(v))) => i64::try_from(*v).ok(),
        Some(Node::String(s)) => s.parse().ok(),
        _ => None,
    }
}

#[inline]
pub fn u64_at(tape: &[Node<'_>], i: usize) -> Option<u64> {
    match tape.get(i) {
        Some(Node::Static(StaticNode::U64(v))) => Some(*v),
        Some(Node::Static(StaticNode::I64(v))) => u64::try_from(*v).ok(),
        Some(Node::String(s)) => s.parse().ok(),
        _ => None,
    }
}

#[inline]
pub fn bool_at(tape: &[Node<'_>], i: usize) -> Option<bool> {
    match tape.get(i) {
        Some(Node::Static(StaticNode::Bool(b))) => Some(*b),
        _ => None,
    }
}

#[inline]
pub fn is_null(tape: &[Node<'_>], i: usize) -> bool {
    matches!(tape.get(i), Some(Node::Static(StaticNode::Null)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_values() {
        let mut s = br#"{"a":[1,[2,3]],"b":{"c":"x"},"d":-3,"e":"7"}"#.to_vec();
        let t = simd_json::to_tape(&mut s).unwrap();
        let f: Vec<_> = fields(&t.0, 0).collect();
        assert_eq!(
            f.iter().map(|x| x.0).collect::<Vec<_>>(),
            ["a", "b", "d", "e"]
        );
        let a = f[0].1;
        assert_eq!(elems(&t.0, a).count(), 2);
        let inner = elems(&t.0, a).nth(1).unwrap();
        assert_eq!(
            elems(&t.0, inner)
                .map(|i| int_at(&t.0, i).unwrap())
                .collect::<Vec<_>>(),
            [2, 3]
        );
        let b = f[1].1;
        assert_eq!(str_at(&t.0, fields(&t.0, b).next().unwrap().1), Some("x"));
        assert_eq!(int_at(&t.0, f[2].1), Some(-3));
        assert_eq!(int_at(&t.0, f[3].1), Some(7));
    }
}
