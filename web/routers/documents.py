"""``GET /api/documents`` and ``GET /api/documents/{doc_id}``: the canonical source texts."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from web.dependencies import Store
from web.schemas import DocumentOut, DocumentSummary, ErrorOut, SectionOut

router = APIRouter(tags=["documents"])


@router.get("/api/documents", response_model=list[DocumentSummary], summary="List the source documents")
async def list_documents(store: Store) -> list[DocumentSummary]:
    """All documents of the loaded index.

    Returns:
        Id, title and length of each document.
    """
    return [DocumentSummary(id=d.doc_id, title=d.title, length=len(d.text)) for d in store.documents]


@router.get(
    "/api/documents/{doc_id}",
    response_model=DocumentOut,
    responses={404: {"model": ErrorOut}},
    summary="One document's canonical text and sections",
)
async def get_document(doc_id: str, store: Store) -> DocumentOut:
    """One document, looked up by id in the loaded index (never on disk).

    Args:
        doc_id: Document id.
        store: The index in service.

    Returns:
        The document.

    Raises:
        HTTPException: 404 for an unknown id.
    """
    number = store.doc_index.get(doc_id)
    if number is None:
        raise HTTPException(status_code=404, detail=f"no document with id '{doc_id}'")
    document = store.documents[number]
    return DocumentOut(
        id=document.doc_id,
        title=document.title,
        text=document.text,
        sections=[SectionOut(title=s.title, start=s.start, end=s.end) for s in document.sections],
    )
