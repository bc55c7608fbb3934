"""The only part of `lib` that imports Streamlit: shared page pieces built on the plain modules beside it."""
